package io.loraserve.server.http;

import io.helidon.http.HeaderNames;
import io.helidon.webserver.http.ServerResponse;
import jakarta.json.JsonObject;
import java.nio.charset.StandardCharsets;

/** Sends a whole JSON body as a handler's response, with the status already set on it (200 unless set). */
public final class JsonResponse {
    private JsonResponse() {
    }

    public static void send(ServerResponse res, JsonObject body) {
        res.header(HeaderNames.CONTENT_TYPE, "application/json");
        res.send(Json.write(body).getBytes(StandardCharsets.UTF_8));
    }
}
