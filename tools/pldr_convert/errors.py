"""The one exception type the converter raises for bad input or a failed run.

Its message is what `tools/convert` prints after `convert: error: `; it names the file and/or
tensor that is wrong. Anything else escaping is a bug in the converter, not in the input.
"""

import json


class ConvertError(Exception):
    """Bad input, an I/O failure, or a refused operation; str(e) is the one-line message."""


def read_json(path):
    """The parsed JSON file at path; a ConvertError names the file when it cannot be read or parsed."""
    try:
        with open(path, "rb") as f:
            return json.loads(f.read().decode("utf-8"))
    except OSError as e:
        raise ConvertError("%s: %s" % (path, e.strerror or e)) from None
    except (UnicodeDecodeError, ValueError) as e:
        raise ConvertError("%s: not valid JSON: %s" % (path, e)) from None
