"""worksched's python task runner: imports a file, calls one function with keyword arguments, and writes its
JSON return value to $WORKSCHED_RESULT_FILE.

Usage: python3 -u runner.py CALL_FILE, where CALL_FILE is the JSON the worker wrote:
{"file", "function", "kwargs", "args", "status_file"}. Besides the result, it writes `status_file` when the call
did not end with a value: {"kind": "exception", "type", "qualified_type", "message"} when the function (or the
import of its file) raised, with the traceback on stderr (the task's log); {"kind": "error", "code", "message"}
when there was nothing to call; {"kind": "invalid_result", "message"} when the value is not JSON. It then exits 1.
SystemExit and KeyboardInterrupt are not caught: sys.exit(3) ends the task with exit code 3 as in a script.
"""
import importlib.util
import json
import os
import sys
import types

# asyncio and traceback are imported only when needed: they cost a python task tens of milliseconds at start.

MODULE_NAME_FALLBACK = "__worksched_task__"


def write_json(path, value):
    with open(path, "w", encoding="utf-8") as out:
        json.dump(value, out, allow_nan=False)


def load_module(file):
    """Imported like a script's sibling module: its folder first on sys.path, no bytecode written beside it."""
    folder = os.path.dirname(os.path.abspath(file))
    sys.path.insert(0, folder)
    stem = os.path.splitext(os.path.basename(file))[0]
    name = stem if stem.isidentifier() and stem not in sys.modules else MODULE_NAME_FALLBACK
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise ImportError("cannot import %s: not a python source file" % file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    dont_write = sys.dont_write_bytecode
    sys.dont_write_bytecode = True
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = dont_write
    return module


def find_function(module, dotted):
    target = module
    for part in dotted.split("."):
        if not hasattr(target, part):
            return None
        target = getattr(target, part)
    return target if callable(target) else None


def report_exception(status_file, error, skip_frames=0):
    tb = error.__traceback__
    for _ in range(skip_frames):
        tb = tb.tb_next if tb is not None and tb.tb_next is not None else tb
    import traceback

    traceback.print_exception(type(error), error, tb)
    kind = type(error)
    write_json(status_file, {
        "kind": "exception",
        "type": kind.__name__,
        "qualified_type": "%s.%s" % (kind.__module__, kind.__qualname__),
        "message": str(error)[:2000],
    })


def main():
    with open(sys.argv[1], encoding="utf-8") as source:
        call = json.load(source)
    status_file = call["status_file"]
    result_file = os.environ["WORKSCHED_RESULT_FILE"]
    sys.argv = [call["file"]] + call["args"]
    try:
        module = load_module(call["file"])
    except Exception as error:  # noqa: BLE001 - the task's own code raised while being imported
        report_exception(status_file, error)
        return 1
    function = find_function(module, call["function"])
    if function is None:
        write_json(status_file, {
            "kind": "error",
            "code": "executable_not_found",
            "message": "%s has no function %s" % (call["file"], call["function"]),
        })
        sys.stderr.write("worksched: %s has no function %s\n" % (call["file"], call["function"]))
        return 1
    try:
        value = function(**call["kwargs"])
        if isinstance(value, types.CoroutineType):
            import asyncio

            value = asyncio.run(value)
    except Exception as error:  # noqa: BLE001 - any exception of the function is the task's failure
        report_exception(status_file, error, skip_frames=1)  # from the function's frame on, not the runner's
        return 1
    if value is None and os.path.exists(result_file):
        return 0  # the function wrote its result itself
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as error:
        message = "the return value of %s is not JSON: %s" % (call["function"], error)
        sys.stderr.write("worksched: %s\n" % message)
        write_json(status_file, {"kind": "invalid_result", "message": message})
        return 1
    with open(result_file, "w", encoding="utf-8") as out:
        out.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
