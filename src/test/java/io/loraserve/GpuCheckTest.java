package io.loraserve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jakarta.json.Json;
import jakarta.json.JsonObject;
import jakarta.json.JsonReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code scripts/gpu-check} (what {@code ./loraserve gpu-check} runs) on a machine without a GPU: it
 * says so clearly, writes its JSON, exits 3 and checks nothing else. Its GPU stages cannot run here.
 */
class GpuCheckTest {
    @TempDir
    Path tmp;

    @Test
    void withoutNvidiaSmiItSaysNoGpuWasFound() throws IOException, InterruptedException {
        Result r = run(tmp.resolve("no-such-dir/nvidia-smi").toString());
        assertEquals(3, r.exit(), r.output());
        assertTrue(r.output().contains("gpu-check: preflight SKIP no NVIDIA GPU found: "), r.output());
        assertTrue(r.output().contains("gpu-check: verdict   NO-GPU"), r.output());
        assertEquals("NO-GPU", r.json().getString("verdict"));
        assertEquals(1, r.json().getJsonArray("stages").size(), "no stage after preflight ran");
    }

    /** The driver installed but not talking to a device: nvidia-smi fails (a fault this machine cannot cause). */
    @Test
    void whenNvidiaSmiListsNoDeviceItSaysNoGpuWasFound() throws IOException, InterruptedException {
        Path smi = tmp.resolve("nvidia-smi");
        Files.writeString(smi, "#!/bin/sh\necho \"NVIDIA-SMI has failed because it couldn't communicate with the"
                + " NVIDIA driver.\" >&2\nexit 9\n");
        Files.setPosixFilePermissions(smi, PosixFilePermissions.fromString("rwxr-xr-x"));
        Result r = run(smi.toString());
        assertEquals(3, r.exit(), r.output());
        assertTrue(r.output().contains("lists no device (NVIDIA-SMI has failed because it couldn't communicate"),
                r.output());
        assertEquals("NO-GPU", r.json().getString("verdict"));
    }

    private record Result(int exit, String output, JsonObject json) {
    }

    private Result run(String nvidiaSmi) throws IOException, InterruptedException {
        Path out = tmp.resolve("gpu-check.json");
        ProcessBuilder pb = new ProcessBuilder("bash", "scripts/gpu-check", "--out", out.toString())
                .redirectErrorStream(true);
        pb.environment().put("NVIDIA_SMI", nvidiaSmi);
        Process p = pb.start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "gpu-check finished");
        try (JsonReader reader = Json.createReader(Files.newBufferedReader(out))) {
            return new Result(p.exitValue(), output, reader.readObject());
        }
    }
}
