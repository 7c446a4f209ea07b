"""What a run leaves behind: journal.json, report.html, junit.xml, metrics.prom."""
