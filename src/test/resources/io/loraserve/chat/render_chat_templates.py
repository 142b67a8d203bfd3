# Writes chat-templates.json: chat templates rendered by Python Jinja2 (3.1) set up as HuggingFace
# transformers sets it up for apply_chat_template (transformers/utils/chat_template_utils.py:
# sandboxed, trim_blocks, lstrip_blocks, loopcontrols, raise_exception, strftime_now, its own
# tojson; rendered with tools=None, documents=None). ChatTemplateTest checks that Jinjava renders
# the same text. strftime_now's "now" is fixed here and in the test.
# Run: python3 render_chat_templates.py > chat-templates.json
import json
from datetime import datetime
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.ext import loopcontrols
def raise_exception(m): raise Exception(m)
def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)
NOW = "2025-07-26T14:05:09"
env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
env.filters["tojson"] = tojson
env.globals["raise_exception"] = raise_exception
env.globals["strftime_now"] = lambda f: datetime.fromisoformat(NOW).strftime(f)
T = {
 "zephyr": "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}",
 "llama3": "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}",
 "chatml": "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}",
 # loraserve's default for models without a template (ChatTemplate.DEFAULT)
 "loraserve-default": "{{ bos_token }}{% for message in messages %}<|{{ message.role }}|>\n{{ message.content }}\n{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}",
 "namespace": "{%- set ns = namespace(system='') -%}\n{%- for m in messages -%}\n  {%- if m.role == 'system' -%}{%- set ns.system = m.content -%}{%- endif -%}\n{%- endfor -%}\n[{{ ns.system }}]\n{% for m in messages %}\n  {% if m.role != 'system' %}\n    {{ m.role | upper }}: {{ m.content }}\n  {% endif %}\n{% endfor %}\n",
}
# The constructs below are the ones real templates use that Jinjava got wrong; each is written
# here in the shape the named template uses it (the templates themselves are not copied).
T.update({
 # Mistral Nemo / v0.3 tool blocks: a loop filter over dict items, loop.last over kept items
 "loop-filter": "{%- for m in messages if m.role != 'system' %}{{ loop.index }}/{{ loop.length }} {{ m.role }}{{ ';' if not loop.last }}{% endfor %}\n{%- for key, val in {'name': 'f', 'return': 'x', 'description': 'd'}.items() if key != 'return' %}\n    {{- key + '=' + val }}{% if not loop.last %},{% endif %}\n{%- endfor %}",
 # Qwen3: the last user query, found by walking the messages backwards
 "reverse-slice": "{%- set ns = namespace(last=messages|length - 1, found=false) %}\n{%- for m in messages[::-1] %}\n    {%- set index = (messages|length - 1) - loop.index0 %}\n    {%- if not ns.found and m.role == 'user' %}{% set ns.found = true %}{% set ns.last = index %}{% endif %}\n{%- endfor %}\nlast user: {{ ns.last }} | {{ messages[1:]|length }} {{ messages[-1].role }} {{ messages[:-1]|map(attribute='role')|join(',') }} | {{ 'abcdef'[::2] }} {{ 'abcdef'[-2:] }} {{ [1, 2, 3, 4][3:0:-1] }}",
 # DeepSeek-R1-Distill / deepseek-coder: `not` over a whole test or comparison
 "not-precedence": "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}{% for m in messages %}{% if not m.role == 'system' %}<{{ m.role }}>{% endif %}{% endfor %}{% if add_generation_prompt and not bos_token is none %}<assistant>{% endif %}",
 # Qwen3 / QwQ / DeepSeek-R1-Distill: reasoning split off an assistant turn with str methods
 "str-methods": "{%- for m in messages %}\n    {%- set content = m.content %}\n    {%- if '</think>' in content %}\n        {%- set content = content.split('</think>')[-1].lstrip('\\n') %}\n        {%- set reasoning = m.content.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') %}\n        {{- '[' + reasoning.strip('\\n') + ']' }}\n    {%- endif %}\n    {{- m.role + ':' + content.strip() + '|' + ('S' if m.content.startswith('<think>') else '-') + ('E' if m.content.endswith(('ok', 'x')) else '-') + '\\n' }}\n{%- endfor %}\n{{- 'a</think>'.split('</think>') | length }} {{ 'a b  c'.split() | join('+') }} {{ 'xxab'.rstrip('b') }} {{ 'hello world'.title() }}",
 # Llama 3.1-3.3, Granite 3.3, gpt-oss: today's date in the system header
 "strftime-now": "{%- if strftime_now is defined %}\n    {%- set date_string = strftime_now('%d %b %Y') %}\n{%- else %}\n    {%- set date_string = '26 Jul 2024' %}\n{%- endif %}\nToday Date: {{ date_string }} ({{ strftime_now('%B %-d, %Y %H:%M %A %j') }})\n{{ 'raise_exception is defined' if raise_exception is defined }}",
 # every template that offers tools or documents: HF passes both as none
 "tools-documents-none": "{%- if tools is not none %}tools{% else %}no tools{% endif %} {% if documents is none %}no documents{% endif %} {% if tools %}!{% endif %}",
 # Llama 3.1 / Qwen / Mistral tool blocks: HF's tojson (json.dumps, non-ASCII kept, no HTML escaping)
 "tojson": "{{ messages[-1] | tojson }}\n{{ {'a': [1, 2.5, none, true], 'b': '<&>\"'} | tojson(indent=4) }}\n{{ {'z': 1, 'a': 2} | tojson(sort_keys=true, separators=[',', ':']) }} {{ 'ü' | tojson(ensure_ascii=true) }}",
 # Qwen3: namespace() arguments that are whole expressions
 "namespace-expressions": "{%- set ns = namespace(multi_step_tool=true, last_query_index=messages|length - 1, label='x' ~ 'y') %}{{ ns.last_query_index }} {{ ns.label }} {{ 'multi-step' if ns.multi_step_tool is true }}", # str.format, as some templates call it; a message's Java format syntax must stay plain text
 "str-format": "{%- for m in messages %}{{ '{}: {}|{{}}'.format(m.role, m.content) }}{{ ' {1}<{0}>\\n'.format(m.role, loop.index) }}{% endfor %}",
 # str.replace with a count
 "str-replace-count": "{{ 'aaa'.replace('a', 'b', 2) }} {{ 'abc'.replace('', '-', 2) }} {{ 'ab'.replace('', '-', 5) }} {{ 'abc'.replace('', '-') }} {{ messages[0].role.replace('s', 'S', 1) }}",
 # strings count and index characters, not UTF-16 units
 "str-index-length": "{{ 'a😀b'|length }} {{ 'a😀b'|count }} {{ 'abc'[0] }}{{ 'abc'[-1] }} {{ 'a😀b'[1] }} {{ messages[0].content[0] }} {{ messages|length }}",
 # Jinja2 3.1's items filter (Qwen3-Coder's tool schemas)
 "items-filter": "{%- for k, v in {'b': 1, 'a': 'x'} | items %}{{ k }}={{ v }};{% endfor %}{{ missing | items | list | length }}",
 # Windows line endings in tokenizer_config.json: Jinja2 reads \r\n and \r as \n
 "crlf": "a\r\n  {% if true %}\r\n  x\r\n  {% endif %}\r\n{% for m in messages %}{{ m.role }}\r\n{% endfor %}b",
})
# a system prompt, a multi-turn conversation with template syntax and non-ASCII text in it,
# and an assistant turn carrying reasoning
CONVERSATIONS = {
 "multi-turn": [{"role":"system","content":"Be brief."},{"role":"user","content":" Hi {{ 7*7 }} "},{"role":"assistant","content":"Hello!"},{"role":"user","content":"Ünïcode ✓"}],
 "reasoning": [{"role":"user","content":"{% raw %}x{% endraw %} {# c #} 2+2?"},{"role":"assistant","content":"<think>\nadd\n</think>\n\nfour, ok"},{"role":"user","content":"again %300000000s %n {0} {}"}],
}
cases = []
for k, t in T.items():
    for c, msgs in CONVERSATIONS.items():
        expected = env.from_string(t).render(messages=msgs, tools=None, documents=None, bos_token="<s>",
                                             eos_token="</s>", add_generation_prompt=True)
        cases.append({"name": k, "conversation": c, "template": t, "expected": expected})
print(json.dumps({"now": NOW, "bos_token": "<s>", "eos_token": "</s>", "conversations": CONVERSATIONS,
                  "cases": cases}, ensure_ascii=False, indent=1))
