package io.loraserve.server.openai;

import io.helidon.webserver.http.HttpRules;
import io.helidon.webserver.http.HttpService;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;
import io.loraserve.chat.ChatTemplate;
import io.loraserve.server.http.ApiException;
import io.loraserve.server.http.Bodies;
import io.loraserve.server.http.ErrorHandling;
import io.loraserve.server.http.Json;
import io.loraserve.server.http.JsonResponse;
import io.loraserve.server.http.Params;
import io.loraserve.tokenizer.Tokenizer;
import jakarta.json.JsonArray;
import jakarta.json.JsonArrayBuilder;
import jakarta.json.JsonObjectBuilder;

/**
 * vLLM's {@code POST /tokenize} and {@code POST /detokenize}: the model's own tokenizer, so a
 * client can count tokens, check a prompt against the context, or find the ids {@code logit_bias}
 * and {@code stop_token_ids} take. Every adapter shares the base model's tokenizer; {@code model}
 * is checked as in the generating endpoints.
 *
 * <p>{@code /tokenize} takes {@code prompt} (encoded as completions encode it:
 * {@code add_special_tokens} defaults to true) or {@code messages} (rendered with the chat
 * template as chat completions render them, then encoded without special tokens) and answers
 * {@code {"count","max_model_len","tokens","token_strs"}}; {@code token_strs} with
 * {@code return_token_strs}, else null. {@code /detokenize} takes {@code tokens} and answers
 * {@code {"prompt"}}, special tokens skipped as in completions' text.
 */
public final class TokenizeService implements HttpService {
    private final ModelResolver models;
    private final Tokenizer tokenizer;
    private final ChatTemplate template;

    public TokenizeService(ModelResolver models, Tokenizer tokenizer, ChatTemplate template) {
        this.models = models;
        this.tokenizer = tokenizer;
        this.template = template;
    }

    @Override
    public void routing(HttpRules rules) {
        rules.post("/tokenize", this::tokenize)
                .any("/tokenize", ErrorHandling.methodNotAllowed("POST"))
                .post("/detokenize", this::detokenize)
                .any("/detokenize", ErrorHandling.methodNotAllowed("POST"));
    }

    private void tokenize(ServerRequest req, ServerResponse res) {
        Params p = params(req);
        int[] ids;
        if (p.has("prompt") == p.has("messages")) {
            throw ApiException.badRequest(p.has("prompt") ? "messages" : "prompt",
                    "give either 'prompt' (a string) or 'messages' (a chat), not both or neither");
        }
        if (p.has("prompt")) {
            String prompt = p.string("prompt", null);
            ids = p.bool("add_special_tokens", true) ? tokenizer.encode(prompt) : tokenizer.encodeWithoutSpecial(prompt);
        } else {
            String text = ChatRequest.Rendering.parse(p).render(template, ChatRequest.messages(p),
                    ChatRequest.tools(p));
            ids = p.bool("add_special_tokens", false) ? tokenizer.encode(text) : tokenizer.encodeWithoutSpecial(text);
        }
        JsonArrayBuilder tokens = Json.BUILDERS.createArrayBuilder();
        for (int id : ids) {
            tokens.add(id);
        }
        JsonObjectBuilder out = Json.BUILDERS.createObjectBuilder()
                .add("count", ids.length)
                .add("max_model_len", models.base().maxModelLen())
                .add("tokens", tokens);
        if (p.bool("return_token_strs", false)) {
            JsonArrayBuilder strs = Json.BUILDERS.createArrayBuilder();
            for (int id : ids) {
                strs.add(tokenizer.tokenText(id));  // one native decode per token: only when asked
            }
            out.add("token_strs", strs);
        } else {
            out.addNull("token_strs");
        }
        JsonResponse.send(res, out.build());
    }

    private void detokenize(ServerRequest req, ServerResponse res) {
        Params p = params(req);
        if (!(p.raw("tokens") instanceof JsonArray a)) {
            throw ApiException.badRequest("tokens", "'tokens' must be a list of token ids");
        }
        int[] ids = Params.tokenIds("tokens", a, models.base().vocab());
        JsonResponse.send(res, Json.BUILDERS.createObjectBuilder().add("prompt", tokenizer.decode(ids)).build());
    }

    /** The body's fields, after checking that its {@code model} is served. */
    private Params params(ServerRequest req) {
        Params p = new Params(Json.parseObject(Bodies.read(req)));
        models.resolve(p.string("model", null), null);
        return p;
    }
}
