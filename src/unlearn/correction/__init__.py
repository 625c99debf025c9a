"""What the CUTS-family corrections share beyond the methods: the label-free KNN choice of alpha
(``knn_alpha``) and SAP's spectral projection of a layer's weights (``sap_projection``)."""
