# Writes tool-templates.json: chat templates that offer tools, rendered by Python Jinja2 (3.1) set up
# as transformers sets it up for apply_chat_template(tools=...) (see render_chat_templates.py), with
# the request's tools[] entries as `tools` and, as vLLM hands them to templates, an assistant's
# tool_calls[].function.arguments parsed from its JSON text into a dict. ChatToolTemplatesTest renders
# the same request through loraserve's chat parsing and checks it gets the same text.
# The templates follow the shape of the named models' tool blocks (they are not copied).
# Run: python3 render_tool_templates.py > tool-templates.json
import copy, json
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.ext import loopcontrols
def raise_exception(m): raise Exception(m)
def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)
env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
env.filters["tojson"] = tojson
env.globals["raise_exception"] = raise_exception
T = {
 # Qwen 2.5 / Hermes: tools listed in the system turn, calls as <tool_call> blocks, results as <tool_response>
 "hermes": "{%- if tools %}<|im_start|>system\n{% if messages[0].role == 'system' %}{{ messages[0].content }}\n\n{% endif %}# Tools\n<tools>\n{%- for tool in tools %}\n{{ tool | tojson }}\n{%- endfor %}\n</tools><|im_end|>\n{%- endif %}\n{%- for m in messages %}\n{%- if m.role == 'system' and tools %}{% continue %}{% endif %}\n{%- if m.role == 'assistant' and m.tool_calls %}\n<|im_start|>assistant\n{{ m.content or '' }}{% for tc in m.tool_calls %}<tool_call>\n{\"name\": \"{{ tc.function.name }}\", \"arguments\": {{ tc.function.arguments | tojson }}}\n</tool_call>{% endfor %}<|im_end|>\n{%- elif m.role == 'tool' %}\n<|im_start|>user\n<tool_response>\n{{ m.content }}\n</tool_response><|im_end|>\n{%- else %}\n<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{%- endif %}\n{%- endfor %}\n{%- if add_generation_prompt %}\n<|im_start|>assistant\n{% endif %}",
 # Llama 3.1: tools in the first user turn, a call as {"name", "parameters"}, results as ipython turns
 "llama3_json": "{{ bos_token }}{%- for m in messages %}\n{%- if m.role == 'user' and tools is not none and loop.index0 == 1 %}<|start_header_id|>user<|end_header_id|>\n\nGiven the following functions, respond with a JSON function call.\n\n{% for t in tools %}{{ t | tojson(indent=4) }}\n\n{% endfor %}{{ m.content }}<|eot_id|>{%- elif m.role == 'assistant' and m.tool_calls is defined %}<|start_header_id|>assistant<|end_header_id|>\n\n{%- for tc in m.tool_calls %}{\"name\": \"{{ tc.function.name }}\", \"parameters\": {{ tc.function.arguments | tojson }}}{% endfor %}<|eot_id|>{%- elif m.role == 'tool' %}<|start_header_id|>ipython<|end_header_id|>\n\n{{ m.content }}<|eot_id|>{%- else %}<|start_header_id|>{{ m.role }}<|end_header_id|>\n\n{{ m.content }}<|eot_id|>{%- endif %}\n{%- endfor %}{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}",
 # Mistral v0.3: [AVAILABLE_TOOLS] before the last user turn, calls with their ids, results by tool_call_id
 "mistral": "{{ bos_token }}{%- for m in messages %}{%- if m.role == 'user' %}{%- if tools and loop.last %}[AVAILABLE_TOOLS][{% for t in tools %}{\"type\": \"function\", \"function\": {% for k, v in t.function.items() %}{{ '{' if loop.first }}\"{{ k }}\": {{ v | tojson }}{{ ', ' if not loop.last else '}' }}{% endfor %}}{{ ', ' if not loop.last }}{% endfor %}][/AVAILABLE_TOOLS]{% endif %}[INST] {{ m.content }}[/INST]{%- elif m.role == 'assistant' and m.tool_calls %}[TOOL_CALLS][{% for tc in m.tool_calls %}{\"name\": \"{{ tc.function.name }}\", \"arguments\": {{ tc.function.arguments | tojson }}, \"id\": \"{{ tc.id }}\"}{{ ', ' if not loop.last }}{% endfor %}]</s>{%- elif m.role == 'tool' %}[TOOL_RESULTS]{\"content\": {{ m.content | tojson }}, \"call_id\": \"{{ m.tool_call_id }}\"}[/TOOL_RESULTS]{%- else %}{{ m.content }}{%- endif %}{%- endfor %}",
}
TOOLS = [
 {"type": "function", "function": {"name": "get_weather", "description": "Weather in a city, für Städte",
  "parameters": {"type": "object", "properties": {"city": {"type": "string", "enum": ["Paris", "Oslo"]},
   "days": {"type": "integer", "minimum": 1, "maximum": 7}}, "required": ["city", "days"]}}},
 {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {"utc": {"type": "boolean"}}}}},
]
# the request's messages as a client sends them (arguments as JSON text)
MESSAGES = [
 {"role": "system", "content": "Be brief."},
 {"role": "user", "content": "Weather in Oslo, and the time?"},
 {"role": "assistant", "content": None, "tool_calls": [
  {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Oslo\", \"days\": 2}"}},
  {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": "{\"utc\": true}"}}]},
 {"role": "tool", "tool_call_id": "call_1", "content": "Rain, 4 °C"},
 {"role": "tool", "tool_call_id": "call_2", "content": "12:00"},
 {"role": "user", "content": "Thanks. Tomorrow?"},
]
def for_template(messages):
    out = copy.deepcopy(messages)
    for m in out:
        if m["role"] == "assistant" and m.get("content") is None:
            m["content"] = ""  # loraserve's and vLLM's null assistant content
        for tc in m.get("tool_calls", []):
            tc["function"]["arguments"] = json.loads(tc["function"]["arguments"])
    return out
cases = []
for k, t in T.items():
    expected = env.from_string(t).render(messages=for_template(MESSAGES), tools=TOOLS, documents=None, bos_token="<s>",
                                         eos_token="</s>", add_generation_prompt=True)
    cases.append({"name": k, "template": t, "expected": expected})
print(json.dumps({"bos_token": "<s>", "eos_token": "</s>", "request": {"messages": MESSAGES, "tools": TOOLS},
                  "cases": cases}, ensure_ascii=False, indent=1))
