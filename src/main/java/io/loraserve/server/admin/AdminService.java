package io.loraserve.server.admin;

import io.helidon.http.HeaderNames;
import io.helidon.http.Status;
import io.helidon.webserver.http.HttpRules;
import io.helidon.webserver.http.HttpService;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;
import io.loraserve.engine.ModelRuntime;
import io.loraserve.lora.Adapter;
import io.loraserve.lora.AdapterConfig;
import io.loraserve.lora.AdapterException;
import io.loraserve.lora.AdapterRegistry;
import io.loraserve.model.WeightLayout;
import io.loraserve.server.http.AdapterErrors;
import io.loraserve.server.http.ApiException;
import io.loraserve.server.http.Bodies;
import io.loraserve.server.http.ErrorHandling;
import io.loraserve.server.http.Json;
import io.loraserve.server.http.JsonResponse;
import io.loraserve.server.http.Params;
import jakarta.json.JsonArrayBuilder;
import jakarta.json.JsonObject;
import jakarta.json.JsonObjectBuilder;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.LinkedHashSet;
import java.util.Set;
import java.util.concurrent.CompletionException;
import java.util.function.Supplier;

/**
 * The admin API (admin listener only): list, load, replace, unload, pin and unpin adapters, plus
 * vLLM's {@code /v1/load_lora_adapter} and {@code /v1/unload_lora_adapter} so tools written for
 * vLLM work. Every refusal leaves the registry as it was. Every change is saved ({@code --state-dir}) before it is
 * answered: a 2xx means it survives a crash.
 */
public final class AdminService implements HttpService {
    private final ModelRuntime runtime;
    private final AdapterRegistry registry;
    /** Makes the catalogue as it is now durable ({@code --state-dir}); does nothing without one. */
    private final Runnable save;

    public AdminService(ModelRuntime runtime, Runnable save) {
        this.runtime = runtime;
        this.registry = runtime.registry();
        this.save = save;
    }

    @Override
    public void routing(HttpRules rules) {
        rules.get("/admin/adapters", this::list)
                .post("/admin/adapters", this::load)
                .get("/admin/adapters/{name}", this::show)
                .delete("/admin/adapters/{name}", this::unload)
                .post("/admin/adapters/{name}/pin", (req, res) -> pin(req, res, true))
                .post("/admin/adapters/{name}/unpin", (req, res) -> pin(req, res, false))
                .post("/v1/load_lora_adapter", this::vllmLoad)
                .post("/v1/unload_lora_adapter", this::vllmUnload)
                .any("/admin/adapters", ErrorHandling.methodNotAllowed("GET", "POST"))
                .any("/admin/adapters/{name}", ErrorHandling.methodNotAllowed("GET", "DELETE"))
                .any("/admin/adapters/{name}/pin", ErrorHandling.methodNotAllowed("POST"))
                .any("/admin/adapters/{name}/unpin", ErrorHandling.methodNotAllowed("POST"))
                .any("/v1/load_lora_adapter", ErrorHandling.methodNotAllowed("POST"))
                .any("/v1/unload_lora_adapter", ErrorHandling.methodNotAllowed("POST"));
    }

    private void list(ServerRequest req, ServerResponse res) {
        JsonArrayBuilder data = Json.BUILDERS.createArrayBuilder();
        registry.list().forEach(a -> data.add(record(a)));
        send(res, Status.OK_200, Json.BUILDERS.createObjectBuilder().add("object", "list").add("data", data).build());
    }

    private void show(ServerRequest req, ServerResponse res) {
        String name = req.path().pathParameters().get("name");
        Adapter a = registry.get(name).orElseThrow(() -> notFound(name));
        send(res, Status.OK_200, record(a));
    }

    private void load(ServerRequest req, ServerResponse res) {
        Params p = new Params(Json.parseObject(Bodies.read(req)));
        String name = required(p, "name");
        String path = required(p, "path");
        boolean replace = p.bool("replace", false);
        send(res, Status.CREATED_201, record(saved(() -> doLoad(name, path, replace))));
    }

    /**
     * vLLM's load: {@code lora_name} and {@code lora_path} both required; an existing name is a 400 unless
     * {@code load_inplace} (then replaced as {@code "replace": true} does); answered with vLLM's plain-text line.
     */
    private void vllmLoad(ServerRequest req, ServerResponse res) {
        Params p = new Params(Json.parseObject(Bodies.read(req)));
        String name = p.string("lora_name", null);
        String path = p.string("lora_path", null);
        if (name == null || name.isEmpty() || path == null || path.isEmpty()) {
            throw ApiException.badRequest(name == null || name.isEmpty() ? "lora_name" : "lora_path",
                    "Both 'lora_name' and 'lora_path' must be provided.");
        }
        boolean inplace = p.bool("load_inplace", false);
        if (!inplace && registry.contains(name)) {
            throw new ApiException(400, "invalid_request_error", "lora_name", "adapter_exists", "The lora adapter '"
                    + name + "' has already been loaded. If you want to load the adapter in place, set"
                    + " 'load_inplace' to True.");
        }
        saved(() -> doLoad(name, path, inplace));
        sendText(res, "Success: LoRA adapter '" + name + "' added successfully.");
    }

    private Adapter doLoad(String name, String path, boolean replace) {
        Path dir;
        try {
            dir = Path.of(path);
        } catch (InvalidPathException e) {
            throw ApiException.badRequest("path", "'" + path + "' is not a valid path");
        }
        try {
            return registry.load(name, dir, replace);  // a replaced pinned adapter stays pinned (AdapterPlacement)
        } catch (AdapterRegistry.RegistryException e) {
            throw AdapterErrors.of(e, "name", "path");
        } catch (AdapterException e) {
            throw AdapterErrors.of(e, "path");
        }
    }

    private void unload(ServerRequest req, ServerResponse res) {
        String name = req.path().pathParameters().get("name");
        send(res, Status.OK_200, record(saved(() -> registry.unload(name).orElseThrow(() -> notFound(name)))));
    }

    /** vLLM's unload: {@code lora_name} required, 404 when it is not loaded; answered with vLLM's plain-text line. */
    private void vllmUnload(ServerRequest req, ServerResponse res) {
        String name = new Params(Json.parseObject(Bodies.read(req))).string("lora_name", null);
        if (name == null || name.isEmpty()) {
            throw ApiException.badRequest("lora_name", "'lora_name' needs to be provided to unload a LoRA adapter.");
        }
        saved(() -> registry.unload(name).orElseThrow(() -> ApiException.notFound("adapter_not_found",
                "The lora adapter '" + name + "' cannot be found.")));
        sendText(res, "Success: LoRA adapter '" + name + "' removed successfully.");
    }

    private void pin(ServerRequest req, ServerResponse res, boolean pin) {
        String name = req.path().pathParameters().get("name");
        try {
            send(res, Status.OK_200, record(saved(() -> pin ? runtime.pin(name) : runtime.unpin(name))));
        } catch (AdapterRegistry.RegistryException e) {
            throw AdapterErrors.of(e, "name", "path");
        } catch (AdapterException e) {
            throw AdapterErrors.of(e, "name");
        } catch (CompletionException e) {
            throw new ApiException(507, "server_error", null, "pin_failed", "could not build the merged copy of '"
                    + name + "': " + e.getCause().getMessage());
        }
    }

    /**
     * Runs {@code change}, then saves the catalogue before anything is answered; also when the change failed, since
     * it may have changed something first (a replace whose pin failed). Saving what did not change writes nothing.
     */
    private Adapter saved(Supplier<Adapter> change) {
        Adapter changed;
        try {
            changed = change.get();
        } catch (RuntimeException e) {
            try {
                persist();
            } catch (ApiException notSaved) {
                e.addSuppressed(notSaved);
            }
            throw e;
        }
        persist();
        return changed;
    }

    private void persist() {
        try {
            save.run();
        } catch (UncheckedIOException | AdapterException | AdapterRegistry.RegistryException e) {
            throw ApiException.serverError(500, "state_not_saved", "the change is in effect but could not be saved"
                    + " to --state-dir, so a restart would lose it: " + e.getMessage());
        }
    }

    private static String required(Params p, String key) {
        String v = p.string(key, null);
        if (v == null || v.isBlank()) {
            throw ApiException.badRequest(key, "'" + key + "' is required");
        }
        return v;
    }

    private static ApiException notFound(String name) {
        return ApiException.notFound("adapter_not_found", "The adapter '" + name + "' is not loaded");
    }

    /** The admin view of one adapter. */
    static JsonObject record(Adapter a) {
        AdapterConfig c = a.config();
        Set<String> targets = new LinkedHashSet<>();
        int layers = a.layers();
        for (WeightLayout.Module m : a.layout().modules()) {
            for (int l = 0; l < layers; l++) {
                if (c.targets(m.moduleName(l))) {
                    targets.add(m.shortName());
                }
            }
        }
        JsonArrayBuilder t = Json.BUILDERS.createArrayBuilder();
        targets.forEach(t::add);
        JsonObjectBuilder ranks = Json.BUILDERS.createObjectBuilder();
        c.rankPattern().forEach(ranks::add);
        JsonObjectBuilder alphas = Json.BUILDERS.createObjectBuilder();
        c.alphaPattern().forEach(alphas::add);
        String state = a.freed() ? "unloaded" : a.removed() ? "unloading" : "ready";
        return Json.BUILDERS.createObjectBuilder()
                .add("name", a.name())
                .add("path", a.path().toString())
                .add("rank", c.r())
                .add("alpha", c.loraAlpha())
                .add("scale", c.useRslora() ? c.loraAlpha() / Math.sqrt(c.r()) : c.loraAlpha() / c.r())
                .add("use_rslora", c.useRslora())
                .add("rank_pattern", ranks)
                .add("alpha_pattern", alphas)
                .add("targets", t)
                .add("bytes", a.bytes())
                .add("state", state)
                .add("tier", a.tier())
                .add("on_demand", a.onDemand())
                .add("pinned", a.pinned())
                .add("requests_in_flight", a.inFlight())
                .add("load_seconds", a.loadSeconds())
                .build();
    }

    private static void sendText(ServerResponse res, String text) {
        res.status(Status.OK_200);
        res.header(HeaderNames.CONTENT_TYPE, "text/plain; charset=utf-8");
        res.send(text.getBytes(StandardCharsets.UTF_8));
    }

    private static void send(ServerResponse res, Status status, JsonObject body) {
        res.status(status);
        JsonResponse.send(res, body);
    }
}
