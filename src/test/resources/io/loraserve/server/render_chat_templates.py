# Writes chat-templates.json: chat templates rendered by Python Jinja2 (3.1) set up as HuggingFace
# transformers sets it up for apply_chat_template (sandboxed, trim_blocks, lstrip_blocks,
# loopcontrols, raise_exception). ChatTemplateTest checks that Jinjava renders the same text.
# Run: python3 render_chat_templates.py > chat-templates.json
import json
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.ext import loopcontrols
def raise_exception(m): raise Exception(m)
env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
env.globals["raise_exception"] = raise_exception
T = {
 "zephyr": "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}",
 "llama3": "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}",
 "chatml": "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}",
 # loraserve's default for models without a template (ChatTemplate.DEFAULT)
 "loraserve-default": "{{ bos_token }}{% for message in messages %}<|{{ message.role }}|>\n{{ message.content }}\n{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}",
 "namespace": "{%- set ns = namespace(system='') -%}\n{%- for m in messages -%}\n  {%- if m.role == 'system' -%}{%- set ns.system = m.content -%}{%- endif -%}\n{%- endfor -%}\n[{{ ns.system }}]\n{% for m in messages %}\n  {% if m.role != 'system' %}\n    {{ m.role | upper }}: {{ m.content }}\n  {% endif %}\n{% endfor %}\n",
}
msgs = [{"role":"system","content":"Be brief."},{"role":"user","content":" Hi {{ 7*7 }} "},{"role":"assistant","content":"Hello!"},{"role":"user","content":"Ünïcode ✓"}]
out = {}
for k,t in T.items():
    out[k] = env.from_string(t).render(messages=msgs, bos_token="<s>", eos_token="</s>", add_generation_prompt=True)
print(json.dumps({"messages": msgs, "bos_token": "<s>", "eos_token": "</s>",
                  "cases": [{"name": k, "template": T[k], "expected": out[k]} for k in T]}, ensure_ascii=False, indent=1))
