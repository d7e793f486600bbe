# Dates in tables stay ISO-like in English: unambiguous and sortable by eye.
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
DATETIME_FORMAT = "Y-m-d H:i:s"
