"""What every approximate-unlearning method shares, apart from the methods themselves.

``request``: the data of one forget request (forget / retain / unseen / evaluation sets, the
condensed retain set); ``scores``: the metrics every method is compared by; ``method``: the base
class that runs a request (or several rounds) and times the method; ``fit``: the one Lightning
training path of every method that trains; ``teachers`` and ``matching``: loss pieces that
several methods use (temperature KL against a frozen teacher, A-AMU's loss matching).
"""
