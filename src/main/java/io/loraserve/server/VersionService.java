package io.loraserve.server;

import io.helidon.webserver.http.HttpRules;
import io.helidon.webserver.http.HttpService;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;
import io.loraserve.server.http.ErrorHandling;
import io.loraserve.server.http.Json;
import io.loraserve.server.http.JsonResponse;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Properties;

/**
 * {@code GET /version}: {@code {"version":"…","architecture":"…"}}, the Maven project version, which
 * the build writes into {@code version.properties} beside this class (resource filtering in
 * pom.xml), and the served model's architecture ({@code LlamaForCausalLM}, …).
 */
final class VersionService implements HttpService {
    static final String VERSION = read();
    private final String architecture;

    VersionService(String architecture) {
        this.architecture = architecture;
    }

    @Override
    public void routing(HttpRules rules) {
        rules.get("/version", this::version)
                .any("/version", ErrorHandling.methodNotAllowed("GET"));
    }

    private void version(ServerRequest req, ServerResponse res) {
        JsonResponse.send(res, Json.BUILDERS.createObjectBuilder().add("version", VERSION)
                .add("architecture", architecture).build());
    }

    private static String read() {
        try (InputStream in = VersionService.class.getResourceAsStream("version.properties")) {
            if (in == null) {
                throw new IllegalStateException("version.properties is missing from the class path; rebuild with Maven");
            }
            Properties p = new Properties();
            p.load(in);
            return p.getProperty("version");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
