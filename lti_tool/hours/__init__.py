"""Hours: the crediting rules, the append-only ledger, and measured study time."""
