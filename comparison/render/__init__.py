"""The report as people read it: the terminal table, report.html and the sweep's page. Imports comparison.measures and comparison.cost."""
