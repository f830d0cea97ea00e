"""What comes in and goes out: importers and dataset adapters, export and its files and card,
label aggregation (majority, Dawid-Skene), backup/restore, and the demo projects."""
