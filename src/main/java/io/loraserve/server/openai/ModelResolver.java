package io.loraserve.server.openai;

import io.loraserve.server.http.ApiException;
import java.util.List;
import java.util.function.Predicate;
import java.util.function.Supplier;

/**
 * Maps a request's {@code model} and {@code adapter} fields to what runs it: the base model
 * (null) or an adapter name. Either may name the base (or be absent) or an adapter ({@code model}
 * naming an adapter is vLLM's convention); {@code model} naming the base with {@code adapter}
 * naming an adapter runs the adapter, and naming two different things is a 400.
 */
public final class ModelResolver {
    private final ServedModel base;
    private final Predicate<String> adapterReady;
    private final Supplier<List<String>> readyAdapters;

    public ModelResolver(ServedModel base, Predicate<String> adapterReady, Supplier<List<String>> readyAdapters) {
        this.base = base;
        this.adapterReady = adapterReady;
        this.readyAdapters = readyAdapters;
    }

    ServedModel base() {
        return base;
    }

    List<String> adapters() {
        return readyAdapters.get();
    }

    /** The adapter to run, or null for the base model. */
    String resolve(String model, String adapter) {
        for (String[] field : new String[][] {{"model", model}, {"adapter", adapter}}) {
            if (field[1] != null && field[1].isBlank()) {
                throw ApiException.badRequest(field[0], "'" + field[0] + "' must not be empty; leave it out for the"
                        + " base model");
            }
        }
        String fromModel = null;
        if (model != null && !model.equals(base.name())) {
            if (!adapterReady.test(model)) {
                throw ApiException.notFound("model_not_found", "The model '" + model + "' does not exist; this server"
                        + " serves '" + base.name() + "' and its adapters (GET /v1/models)");
            }
            fromModel = model;
        }
        if (adapter == null) {
            return fromModel;
        }
        boolean adapterIsBase = adapter.equals(base.name());
        if (fromModel != null && !fromModel.equals(adapter)) {
            throw ApiException.badRequest("adapter", "'model' names adapter '" + model + "' but 'adapter' names "
                    + (adapterIsBase ? "the base model '" : "'") + adapter + "'; give one, or the same in both");
        }
        if (adapterIsBase) {
            return null;
        }
        if (!adapterReady.test(adapter)) {
            throw ApiException.notFound("adapter_not_found", "The adapter '" + adapter + "' is not loaded"
                    + " (GET /v1/models lists the loaded ones)");
        }
        return adapter;
    }
}
