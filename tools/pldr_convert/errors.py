"""The one exception type the converter raises for bad input or a failed run.

Its message is what `tools/convert` prints after `convert: error: `; it names the file and/or
tensor that is wrong. Anything else escaping is a bug in the converter, not in the input.
"""


class ConvertError(Exception):
    """Bad input, an I/O failure, or a refused operation; str(e) is the one-line message."""
