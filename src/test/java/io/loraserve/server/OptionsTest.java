package io.loraserve.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.helidon.config.Config;
import io.helidon.config.ConfigSources;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The API's flags: --api-key, --shutdown-grace and the limits, from the command line or config; --help lists them. */
class OptionsTest {

    @Test
    void helpListsEveryFlag() {
        String help = Options.help();
        for (Options.Flag f : Options.FLAGS) {
            assertTrue(help.contains("--" + f.name() + (f.isSwitch() ? " " : " " + f.value())), f.name());
        }
    }

    @Test
    void apiLimitsHaveLaptopDefaults() {
        Options o = Options.parse(new String[0], Config.empty());
        assertNull(o.apiKey());
        assertEquals(Duration.ofSeconds(30), o.shutdownGrace());
        assertEquals(256, o.maxQueuedRequests());
        assertEquals(8, o.maxN());
        assertEquals(2L << 20, o.maxBodyBytes());
    }

    @Test
    void apiKeyAndGraceComeFromFlagsOrConfig() {
        Options flags = Options.parse(new String[] {"--api-key", "k1", "--shutdown-grace=5"}, Config.empty());
        assertEquals("k1", flags.apiKey());
        assertEquals(Duration.ofSeconds(5), flags.shutdownGrace());
        Config config = Config.just(ConfigSources.create(Map.of("loraserve.api-key", "k2", "loraserve.shutdown-grace", "0")));
        Options fromConfig = Options.parse(new String[0], config);
        assertEquals("k2", fromConfig.apiKey());
        assertEquals(Duration.ZERO, fromConfig.shutdownGrace());
    }

    @Test
    void emptyApiKeyOrNegativeGraceIsRefused() {
        assertThrows(OptionsException.class, () -> Options.parse(new String[] {"--api-key", " "}, Config.empty()));
        assertThrows(OptionsException.class, () -> Options.parse(new String[] {"--shutdown-grace", "-1"}, Config.empty()));
    }
}
