"""What the entry points run: config -> objects -> stages/methods -> metrics on disk."""
