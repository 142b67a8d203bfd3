package io.loraserve.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.helidon.config.Config;
import io.helidon.config.ConfigSources;
import io.loraserve.engine.CacheSettings;
import io.loraserve.engine.LoraSettings;
import io.loraserve.engine.ModelSettings;
import io.loraserve.engine.RuntimeSettings;
import io.loraserve.engine.SchedulerSettings;
import io.loraserve.server.LoraServer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The API's flags: --api-key, --shutdown-grace and the limits, from the command line or config; --help lists them. */
class OptionsTest {

    @Test
    void helpListsEveryFlag() {
        String help = Options.help();
        for (Options.Flag f : Options.FLAGS) {
            assertTrue(help.contains("--" + f.name() + (f.value() == null ? "" : " " + f.value())), f.name());
        }
    }

    @Test
    void apiLimitsHaveLaptopDefaults() {
        Options o = Options.parse(new String[0], OptionSource.NONE);
        assertNull(o.http().apiKey());
        assertEquals(Duration.ofSeconds(30), o.http().shutdownGrace());
        assertEquals(256, o.engine().scheduler().maxQueued());
        assertEquals(8, o.api().maxN());
        assertEquals(2L << 20, o.http().maxBodyBytes());
    }

    @Test
    void noEngineFlagGivesTheEnginesDefaults() {
        Path root = Path.of("adapters");
        assertEquals(RuntimeSettings.builder().adapterRoots(List.of(root)).build(),
                Options.parse(new String[0], OptionSource.NONE).engine().withAdapterRoots(List.of(root)));
    }

    @Test
    void everyEngineFlagReachesItsGroup() {
        RuntimeSettings s = Options.parse(("--device cuda:1 --dtype bfloat16 --kernels torch --quantization int8"
                + " --gpu-policy on --max-model-len 48 --threads 3 --kv-block-size 8 --kv-cache-bytes 4096"
                + " --no-enable-prefix-caching --gpu-memory-utilization 0.5 --max-num-seqs 5"
                + " --max-num-batched-tokens 70 --max-queued-requests 9 --request-timeout 11 --step-watchdog 13 --max-adapters 2 --max-lora-rank 4"
                + " --max-cpu-adapter-bytes 999 --adapter-root r").split(" "), OptionSource.NONE).engine();
        assertEquals(new ModelSettings("cuda:1", "bfloat16", "torch", "int8", "on", 48, 3), s.model());
        assertEquals(new CacheSettings(8, 4096, false, 0.5), s.cache());
        assertEquals(new SchedulerSettings(5, 70, 9, Duration.ofSeconds(11), Duration.ofSeconds(13)), s.scheduler());
        assertEquals(new LoraSettings(2, 4, 999, List.of(Path.of("r"))), s.lora());
    }

    @Test
    void apiKeyAndGraceComeFromFlagsOrConfig() {
        Options flags = Options.parse(new String[] {"--api-key", "k1", "--shutdown-grace=5"}, OptionSource.NONE);
        assertEquals("k1", flags.http().apiKey());
        assertEquals(Duration.ofSeconds(5), flags.http().shutdownGrace());
        Config config = Config.just(ConfigSources.create(Map.of("loraserve.api-key", "k2", "loraserve.shutdown-grace", "0")));
        Options fromConfig = Options.parse(new String[0], LoraServer.optionSource(config));
        assertEquals("k2", fromConfig.http().apiKey());
        assertEquals(Duration.ZERO, fromConfig.http().shutdownGrace());
    }

    @Test
    void gpuPolicyAndMemoryUtilizationDefaultToAutoAndVllmsNinetyPercent() {
        Options o = Options.parse(new String[0], OptionSource.NONE);
        assertEquals("auto", o.engine().model().gpuPolicy());
        assertEquals(0.9, o.engine().cache().gpuMemoryUtilization());
        Options set = Options.parse(new String[] {"--gpu-policy", "on", "--gpu-memory-utilization", "0.75"},
                OptionSource.NONE);
        assertEquals("on", set.engine().model().gpuPolicy());
        assertEquals(0.75, set.engine().cache().gpuMemoryUtilization());
    }

    @Test
    void aGpuPolicyOtherThanAutoOnOffOrAUtilizationOutsideZeroToOneIsRefused() {
        OptionsException policy = assertThrows(OptionsException.class,
                () -> Options.parse(new String[] {"--gpu-policy", "yes"}, OptionSource.NONE));
        assertEquals("--gpu-policy must be one of auto, on, off, not 'yes'", policy.getMessage());
        for (String bad : new String[] {"0", "1.5", "-0.2", "NaN"}) {
            OptionsException e = assertThrows(OptionsException.class,
                    () -> Options.parse(new String[] {"--gpu-memory-utilization", bad}, OptionSource.NONE));
            assertEquals("--gpu-memory-utilization must be a fraction in (0, 1], not " + bad, e.getMessage());
        }
        OptionsException word = assertThrows(OptionsException.class,
                () -> Options.parse(new String[] {"--gpu-memory-utilization", "most"}, OptionSource.NONE));
        assertEquals("--gpu-memory-utilization must be a number in (0, 1], not 'most'", word.getMessage());
    }

    @Test
    void emptyApiKeyOrNegativeGraceIsRefused() {
        assertThrows(OptionsException.class, () -> Options.parse(new String[] {"--api-key", " "}, OptionSource.NONE));
        assertThrows(OptionsException.class, () -> Options.parse(new String[] {"--shutdown-grace", "-1"}, OptionSource.NONE));
    }

    @Test
    void quantizationIsNoneByDefaultAndOnlyNoneOrInt8() {
        assertEquals("none", Options.parse(new String[0], OptionSource.NONE).engine().model().quantization());
        assertEquals("int8", Options.parse(new String[] {"--quantization", "int8"}, OptionSource.NONE).engine().model().quantization());
        OptionsException e = assertThrows(OptionsException.class,
                () -> Options.parse(new String[] {"--quantization", "int4"}, OptionSource.NONE));
        assertTrue(e.getMessage().contains("none, int8"), e.getMessage());
    }

    @Test
    void prefixCachingIsOnByDefaultAndTakesVllmsFlagNames() {
        assertTrue(Options.parse(new String[0], OptionSource.NONE).engine().cache().prefixCaching());
        Options off = Options.parse(new String[] {"--no-enable-prefix-caching", "--max-n", "3"}, OptionSource.NONE);
        assertEquals(false, off.engine().cache().prefixCaching());
        assertEquals(3, off.api().maxN());
        Options on = Options.parse(new String[] {"--enable-prefix-caching", "--max-n", "4"}, OptionSource.NONE);
        assertTrue(on.engine().cache().prefixCaching(), "a switch takes no value: the next flag is not swallowed");
        assertEquals(4, on.api().maxN());
        assertEquals(false, Options.parse(new String[] {"--enable-prefix-caching=false"}, OptionSource.NONE).engine().cache().prefixCaching());
        Config config = Config.just(ConfigSources.create(Map.of("loraserve.enable-prefix-caching", "false")));
        assertEquals(false, Options.parse(new String[0], LoraServer.optionSource(config)).engine().cache().prefixCaching());
        assertTrue(Options.parse(new String[] {"--enable-prefix-caching"}, LoraServer.optionSource(config)).engine().cache().prefixCaching());
    }

    @Test
    void aBadPrefixCachingValueOrANegatedValueFlagIsRefused() {
        OptionsException bad = assertThrows(OptionsException.class,
                () -> Options.parse(new String[] {"--enable-prefix-caching=maybe"}, OptionSource.NONE));
        assertEquals("--enable-prefix-caching must be true or false, not 'maybe'", bad.getMessage());
        OptionsException negated = assertThrows(OptionsException.class,
                () -> Options.parse(new String[] {"--no-max-n"}, OptionSource.NONE));
        assertEquals("unknown flag --no-max-n (see --help)", negated.getMessage());
    }
}
