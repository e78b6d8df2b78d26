"""The after-action report of an exercise (or of any stretch of a real flood): figures read
from a canhbao database through each domain's store, as JSON, a self-contained HTML page and
a PDF (exercises.report.service.write_report is what the runner calls when an exercise ends).
"""
