"""Every action type the engine runs, by lower-case type name."""
from __future__ import annotations

from ._control_actions import foreach, if_, scope, switch, terminate, until, wait
from ._data_actions import (
    append_to_array,
    append_to_string,
    compose,
    decrement,
    increment,
    initialize_variable,
    join,
    parse_json,
    query,
    response,
    select,
    set_variable,
    table,
)
from ._http_actions import api_connection, http
from ._runtime import Handler

HANDLERS: dict[str, Handler] = {
    "compose": compose,
    "parsejson": parse_json,
    "response": response,
    "terminate": terminate,
    "wait": wait,
    "http": http,
    "apiconnection": api_connection,
    "if": if_,
    "scope": scope,
    "switch": switch,
    "foreach": foreach,
    "until": until,
    "initializevariable": initialize_variable,
    "setvariable": set_variable,
    "incrementvariable": increment,
    "decrementvariable": decrement,
    "appendtoarrayvariable": append_to_array,
    "appendtostringvariable": append_to_string,
    "select": select,
    "query": query,
    "join": join,
    "table": table,
}
