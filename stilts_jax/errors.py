"""What counts as the user's mistake.

An error that subclasses `UserError` is about something the user gave us (config, task names,
data, checkpoint, paths) and its message already says how to fix it: the CLI prints it as one line,
`stilts-jax: error: ...`, and exits 2, without a traceback (`--verbosity=1` shows it). Anything
else is our bug and keeps its traceback.
"""


class UserError(Exception):
  """Base of errors caused by user input; the message names the problem and the fix."""

  def __str__(self) -> str:  # KeyError subclasses would repr() the message
    return str(self.args[0]) if self.args else ""


EXIT_USER_ERROR = 2


def print_error(prog: str, error: object) -> int:
  """Prints `<prog>: error: <message>` as one line on stderr; returns the exit status (2)."""
  import sys
  print(f"{prog}: error: {' '.join(str(error).split())}", file=sys.stderr, flush=True)
  return EXIT_USER_ERROR
