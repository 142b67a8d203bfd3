package io.loraserve.server.openai;

import io.helidon.webserver.http.HttpRules;
import io.helidon.webserver.http.HttpService;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;
import io.loraserve.server.http.ApiException;
import io.loraserve.server.http.ErrorHandling;
import io.loraserve.server.http.Json;
import io.loraserve.server.http.JsonResponse;
import jakarta.json.JsonArrayBuilder;
import jakarta.json.JsonObjectBuilder;

/**
 * {@code GET /v1/models}: the base model, then every ready adapter with the base as parent, each
 * with the base's {@code architecture} (an extension of OpenAI's model object);
 * {@code GET /v1/models/{id}}: one of them (OpenAI's retrieve), 404 for any other id.
 */
public final class ModelsService implements HttpService {
    private final ModelResolver models;

    public ModelsService(ModelResolver models) {
        this.models = models;
    }

    @Override
    public void routing(HttpRules rules) {
        rules.get("/v1/models", this::list)
                .any("/v1/models", ErrorHandling.methodNotAllowed("GET"))
                .get("/v1/models/{id}", this::retrieve)
                .any("/v1/models/{id}", ErrorHandling.methodNotAllowed("GET"));
    }

    private void retrieve(ServerRequest req, ServerResponse res) {
        ServedModel base = models.base();
        String id = req.path().pathParameters().get("id");
        JsonObjectBuilder entry;
        if (id.equals(base.name())) {
            entry = entry(id, null, base);
        } else if (models.adapters().contains(id)) {
            entry = entry(id, base.name(), base);
        } else {
            throw ApiException.notFound("model_not_found", "The model '" + id + "' does not exist; this server"
                    + " serves '" + base.name() + "' and its adapters (GET /v1/models)");
        }
        JsonResponse.send(res, entry.build());
    }

    private void list(ServerRequest req, ServerResponse res) {
        ServedModel base = models.base();
        JsonArrayBuilder data = Json.BUILDERS.createArrayBuilder().add(entry(base.name(), null, base));
        for (String adapter : models.adapters()) {
            data.add(entry(adapter, base.name(), base));
        }
        JsonResponse.send(res, Json.BUILDERS.createObjectBuilder().add("object", "list").add("data", data).build());
    }

    private static JsonObjectBuilder entry(String id, String parent, ServedModel base) {
        JsonObjectBuilder b = Json.BUILDERS.createObjectBuilder()
                .add("id", id)
                .add("object", "model")
                .add("created", base.created())
                .add("owned_by", "loraserve")
                .add("architecture", base.architecture())
                .add("root", parent == null ? id : parent)
                .add("max_model_len", base.maxModelLen());
        if (parent == null) {
            b.addNull("parent");
        } else {
            b.add("parent", parent);
        }
        return b;
    }
}
