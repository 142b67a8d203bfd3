package io.loraserve.server.http;

import io.loraserve.lora.AdapterException;
import io.loraserve.lora.AdapterRegistry.RegistryException;
import java.util.Locale;

/** How the adapter catalogue's refusals read over HTTP, for the admin API and for requests that load on first use. */
public final class AdapterErrors {
    private AdapterErrors() {
    }

    /** A registry refusal; {@code param} names the field that chose the adapter ({@code name}, {@code model}…). */
    public static ApiException of(RegistryException e, String nameParam, String pathParam) {
        return switch (e.kind()) {
            case BAD_NAME -> ApiException.badRequest(nameParam, e.getMessage());
            case NOT_FOUND -> ApiException.notFound("adapter_not_found", e.getMessage());
            case EXISTS -> new ApiException(409, "invalid_request_error", nameParam, "adapter_exists", e.getMessage());
            case OUTSIDE_ROOTS -> new ApiException(403, "permission_error", pathParam, "path_not_allowed", e.getMessage());
            case NO_SUCH_PATH -> ApiException.badRequest(pathParam, e.getMessage());
            case CAPACITY -> new ApiException(507, "server_error", null, "adapter_capacity", e.getMessage());
        };
    }

    /**
     * An adapter that does not fit the base model (400), or whose files changed on disk after its host copy was
     * dropped (500: nothing the client sent is wrong).
     */
    public static ApiException of(AdapterException e, String param) {
        if (e.reason() == AdapterException.Reason.FILES_CHANGED) {
            return ApiException.serverError(500, "adapter_changed_on_disk", e.getMessage());
        }
        return new ApiException(400, "invalid_request_error", param,
                "adapter_" + e.reason().name().toLowerCase(Locale.ROOT), e.getMessage());
    }
}
