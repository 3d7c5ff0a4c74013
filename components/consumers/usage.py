"""What a model request must carry for its tokens to be counted.

A token budget is charged what the model server reports as usage (agentgateway v1.4.1, LLM
path). A streamed answer reports usage only when the request asks for it with
`stream_options.include_usage` (OpenAI's API; vLLM's serving_chat.py and serving_completion.py
follow it), and agentgateway adds that flag only to a streamed chat request that sent no
`stream_options` at all (crates/agentgateway/src/llm/mod.rs, process_completions_request): a
client streaming with `include_usage: false`, or streaming legacy completions, would be charged
nothing. So every streamed request to a model has the flag turned on, its other stream options
kept; the answer then ends with one more SSE event, which carries the usage (as agentgateway
already does for chat requests without options).

agentgateway sends an empty body when a body expression fails (http/transformation_cel.rs), so
the expression only reads what it has checked: model routes only match a JSON body with a
`model`, `stream` is tested with `has`, and stream options are merged only when they are a map.
"""

from __future__ import annotations

_BODY = "json(request.body)"
_OPTIONS = f"{_BODY}.stream_options"

USAGE_REPORTING_BODY = (
    f"has({_BODY}.stream) && {_BODY}.stream == true"
    f" ? toJson({_BODY}.merge({{\"stream_options\": "
    f"(has({_OPTIONS}) && type({_OPTIONS}) == map ? {_OPTIONS} : {{}}).merge({{\"include_usage\": true}})}}))"
    " : request.body"
)
