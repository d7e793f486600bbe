# Spanish readers write the day first; the rest comes from Django's own Spanish formats.
SHORT_DATETIME_FORMAT = "d/m/Y H:i"
DATETIME_FORMAT = "d/m/Y H:i:s"
