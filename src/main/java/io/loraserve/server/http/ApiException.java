package io.loraserve.server.http;

import java.util.Map;

/**
 * An error the API reports to its client as OpenAI-style JSON:
 * {@code {"error":{"message","type","param","code"}}}, with the response headers it needs
 * ({@code Retry-After}, {@code WWW-Authenticate}). Handlers throw it; {@link ErrorHandling}
 * writes it. Never carries a stack trace to the client.
 */
public class ApiException extends RuntimeException {
    private final int status;
    private final String type;
    private final String param;
    private final String code;
    private final Map<String, String> headers;
    private boolean closesConnection;

    public ApiException(int status, String type, String param, String code, String message) {
        this(status, type, param, code, message, Map.of());
    }

    public ApiException(int status, String type, String param, String code, String message,
                        Map<String, String> headers) {
        super(message);
        this.status = status;
        this.type = type;
        this.param = param;
        this.code = code;
        this.headers = Map.copyOf(headers);
    }

    /** 400 about one request parameter. */
    public static ApiException badRequest(String param, String message) {
        return new ApiException(400, "invalid_request_error", param, "invalid_" + (param == null ? "request" : "value"), message);
    }

    public static ApiException notFound(String code, String message) {
        return new ApiException(404, "invalid_request_error", null, code, message);
    }

    /** 5xx: the server could not complete an accepted request. */
    public static ApiException serverError(int status, String code, String message) {
        return new ApiException(status, "server_error", null, code, message);
    }

    public int status() {
        return status;
    }

    public String type() {
        return type;
    }

    public String param() {
        return param;
    }

    public String code() {
        return code;
    }

    /**
     * Marks this error as one after which the connection must close (the request's framing is
     * broken): {@link ErrorHandling} answers with {@code Connection: close} and stops reading.
     */
    public ApiException closingConnection() {
        closesConnection = true;
        return this;
    }

    public boolean closesConnection() {
        return closesConnection;
    }

    /** Extra response headers, e.g. {@code Retry-After}. */
    public Map<String, String> headers() {
        return headers;
    }
}
