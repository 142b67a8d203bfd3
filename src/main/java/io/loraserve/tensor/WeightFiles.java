package io.loraserve.tensor;

import jakarta.json.Json;
import jakarta.json.JsonException;
import jakarta.json.JsonObject;
import jakarta.json.JsonReader;
import jakarta.json.JsonValue;
import java.io.IOException;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The weights of a HuggingFace model directory: {@code model.safetensors}, or the shards named
 * by {@code model.safetensors.index.json}. Maps each tensor name to the file holding it.
 */
public final class WeightFiles {
    public static final String SINGLE = "model.safetensors";
    public static final String INDEX = "model.safetensors.index.json";

    private final Path dir;
    private final Map<String, SafeTensorsFile> byName;

    private WeightFiles(Path dir, Map<String, SafeTensorsFile> byName) {
        this.dir = dir;
        this.byName = byName;
    }

    /** Opens the weights of {@code dir}; pickle-only directories are refused with a clear message. */
    public static WeightFiles open(Path dir) {
        Path single = dir.resolve(SINGLE);
        Path index = dir.resolve(INDEX);
        if (Files.isRegularFile(single)) {
            SafeTensorsFile f = SafeTensorsFile.open(single);
            Map<String, SafeTensorsFile> m = new LinkedHashMap<>();
            f.names().forEach(n -> m.put(n, f));
            return new WeightFiles(dir, Collections.unmodifiableMap(m));
        }
        if (Files.isRegularFile(index)) {
            return openSharded(dir, index);
        }
        if (Files.isRegularFile(dir.resolve("pytorch_model.bin")) || Files.isRegularFile(dir.resolve("pytorch_model.bin.index.json"))) {
            throw new SafeTensorsException(dir.resolve("pytorch_model.bin"),
                    "pickle checkpoints are never loaded; this server needs model.safetensors"
                            + " (convert with safetensors' convert script)");
        }
        throw new SafeTensorsException(single, "missing: the model directory has neither "
                + SINGLE + " nor " + INDEX);
    }

    private static WeightFiles openSharded(Path dir, Path index) {
        JsonObject weightMap;
        try (Reader r = Files.newBufferedReader(index); JsonReader jr = Json.createReader(r)) {
            weightMap = jr.readObject().getJsonObject("weight_map");
        } catch (IOException | JsonException | ClassCastException e) {
            throw new SafeTensorsException(index, "cannot read shard index: " + e.getMessage(), e);
        }
        if (weightMap == null) {
            throw new SafeTensorsException(index, "no weight_map in shard index");
        }
        Map<String, SafeTensorsFile> shards = new HashMap<>();
        Map<String, SafeTensorsFile> byName = new LinkedHashMap<>();
        for (Map.Entry<String, JsonValue> e : weightMap.entrySet()) {
            if (!(e.getValue() instanceof jakarta.json.JsonString shard)) {
                throw new SafeTensorsException(index, "weight_map entry " + e.getKey() + " is not a file name");
            }
            Path shardPath = dir.resolve(shard.getString()).normalize();
            if (!shardPath.getParent().equals(dir.normalize())) {
                throw new SafeTensorsException(index, "shard " + shard.getString() + " is outside the model directory");
            }
            SafeTensorsFile file = shards.computeIfAbsent(shard.getString(), s -> SafeTensorsFile.open(shardPath));
            if (!file.names().contains(e.getKey())) {
                throw new SafeTensorsException(shardPath, "missing tensor " + e.getKey() + " named by the shard index");
            }
            byName.put(e.getKey(), file);
        }
        return new WeightFiles(dir, Collections.unmodifiableMap(byName));
    }

    public Set<String> names() {
        return byName.keySet();
    }

    public boolean contains(String name) {
        return byName.containsKey(name);
    }

    public SafeTensorsFile.Entry entry(String name) {
        return fileOf(name).entry(name);
    }

    /** Reads one tensor in {@code dtype} on {@code device}; the caller owns it. */
    public Tensor newTensor(String name, ScalarType dtype, Device device) {
        return fileOf(name).newTensor(name, dtype, device);
    }

    private SafeTensorsFile fileOf(String name) {
        SafeTensorsFile f = byName.get(name);
        if (f == null) {
            throw new SafeTensorsException(dir, "the model weights have no tensor " + name);
        }
        return f;
    }
}
