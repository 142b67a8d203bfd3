package io.loraserve.lora;

import java.util.List;
import java.util.regex.Pattern;

/**
 * The base-model modules a PEFT {@code target_modules} or {@code exclude_modules} value selects, with PEFT's
 * matching rules. Module names are those of the base model ({@code model.layers.3.self_attn.q_proj}), never the
 * {@code base_model.model.}-prefixed keys of the weights file: PEFT matches before it wraps the model.
 *
 * <p>Regexes are Java regexes; PEFT uses Python's {@code re}. The two agree on the patterns adapter configs use
 * (classes, alternation, {@code .*}, anchors); Python-only syntax such as {@code (?P<name>…)} fails to compile and
 * the adapter is refused.
 */
public sealed interface ModuleSelector {

    /** Whether this selector picks the module, ignoring {@code layers_to_transform} (see {@link AdapterConfig}). */
    boolean selects(String module);

    /** The value as the config file writes it, for messages. */
    @Override
    String toString();

    /** A JSON list of names: a module is selected when its name equals an entry or ends with "." + the entry. */
    record Names(List<String> names) implements ModuleSelector {
        public Names {
            names = List.copyOf(names);
        }

        @Override
        public boolean selects(String module) {
            return names.stream().anyMatch(name -> entrySelects(name, module));
        }

        static boolean entrySelects(String name, String module) {
            return module.equals(name) || module.endsWith("." + name);
        }

        @Override
        public String toString() {
            return names.toString();
        }
    }

    /** A single JSON string: a regex that must match the whole module name (Python's {@code re.fullmatch}). */
    record Regex(Pattern pattern) implements ModuleSelector {
        @Override
        public boolean selects(String module) {
            return pattern.matcher(module).matches();
        }

        @Override
        public String toString() {
            return "'" + pattern.pattern() + "'";
        }
    }

    /**
     * The string {@code all-linear} (any case): every {@code nn.Linear} except the output head, which for a Llama
     * are exactly the seven decoder projections of every layer.
     */
    record AllLinear() implements ModuleSelector {
        @Override
        public boolean selects(String module) {
            return LlamaModules.isDecoderLinear(module);
        }

        @Override
        public String toString() {
            return "'all-linear'";
        }
    }
}
