# Spanish readers write the day first; the rest comes from Django's own Spanish formats.
SHORT_DATETIME_FORMAT = "d/m/Y H:i"
DATETIME_FORMAT = "d/m/Y H:i:s"
# A point between thousands (2.357) rather than Django's no-break space: the browser's Intl
# writes the same on chart axes and live counters.
THOUSAND_SEPARATOR = "."
