package io.loraserve.deploy;

import static io.loraserve.deploy.Deploy.at;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraserve.config.Options;
import java.nio.file.Files;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * deploy/k8s parses as Kubernetes YAML and its objects fit together: names, labels, ports, probes,
 * volumes and flags refer to things that exist. (No cluster or kubectl schema here: kubectl's
 * client-side dry run needs an API server for discovery.)
 */
class KubernetesManifestsTest {
    private static final String POD_LABEL = "app.kubernetes.io/name";
    private final List<Map<String, Object>> docs = Deploy.documents("k8s");

    @Test
    void everyManifestHasApiVersionKindAndName() {
        for (Map<String, Object> d : docs) {
            assertTrue(at(d, "apiVersion") instanceof String, "apiVersion in " + d);
            assertTrue(at(d, "kind") instanceof String, "kind in " + d);
            assertTrue(at(d, "metadata", "name") instanceof String, "metadata.name in " + d);
        }
        Set<String> kinds = docs.stream().map(d -> (String) at(d, "kind")).collect(Collectors.toSet());
        assertEquals(Set.of("ConfigMap", "PersistentVolumeClaim", "Deployment", "Service", "ServiceMonitor",
                "InferencePool", "HTTPRoute"), kinds);
        assertEquals(2, all("Deployment").size(), "a CPU and a GPU Deployment");
    }

    @Test
    void deploymentsProbeTheHealthEndpointsOnDeclaredPorts() {
        for (Map<String, Object> d : all("Deployment")) {
            Map<String, Object> c = container(d);
            Set<String> ports = names(at(c, "ports"));
            assertEquals(Set.of("http", "admin"), ports);
            assertEquals("/health/ready", at(c, "readinessProbe", "httpGet", "path"));
            assertEquals("/health/live", at(c, "livenessProbe", "httpGet", "path"));
            assertTrue(ports.contains((String) at(c, "readinessProbe", "httpGet", "port")));
            assertTrue(ports.contains((String) at(c, "livenessProbe", "httpGet", "port")));
            assertTrue(at(c, "resources", "requests", "cpu") != null && at(c, "resources", "requests", "memory") != null);
            Object selector = at(d, "spec", "selector", "matchLabels");
            assertEquals(selector, at(d, "spec", "template", "metadata", "labels"));
            assertEquals(true, at(d, "spec", "template", "spec", "securityContext", "runAsNonRoot"));
        }
    }

    @Test
    void gpuDeploymentRequestsAGpuAndRunsOnCuda() {
        Map<String, Object> gpu = all("Deployment").stream()
                .filter(d -> at(d, "metadata", "name").equals("loraserve-gpu")).findFirst().orElseThrow();
        Map<String, Object> c = container(gpu);
        Object gpus = at(c, "resources", "limits", "nvidia.com/gpu");
        assertEquals(1, gpus);
        List<Map<String, Object>> env = at(c, "env");
        assertTrue(env.contains(Map.of("name", "LORASERVE_DEVICE", "value", "cuda")), env.toString());
    }

    @Test
    void volumesConfigMapsAndClaimsReferToObjectsThatExist() {
        String configMap = at(one("ConfigMap"), "metadata", "name");
        String claim = at(one("PersistentVolumeClaim"), "metadata", "name");
        for (Map<String, Object> d : all("Deployment")) {
            Map<String, Object> pod = at(d, "spec", "template", "spec");
            List<Map<String, Object>> volumes = at(pod, "volumes");
            Set<String> volumeNames = names(volumes);
            assertTrue(volumes.stream().anyMatch(v -> v.containsKey("persistentVolumeClaim")
                    && claim.equals(at(v, "persistentVolumeClaim", "claimName"))), "the store claim is mounted");
            List<Map<String, Object>> containers = new java.util.ArrayList<>(at(pod, "containers"));
            containers.addAll(at(pod, "initContainers"));
            for (Map<String, Object> c : containers) {
                List<Map<String, Object>> mounts = at(c, "volumeMounts");
                for (Map<String, Object> m : mounts) {
                    assertTrue(volumeNames.contains((String) at(m, "name")), "volume " + m + " exists");
                }
                assertEquals(configMap, at(c, "envFrom", 0, "configMapRef", "name"));
            }
        }
    }

    @Test
    void configMapKeysAreLoraserveFlags() {
        Set<String> flags = new HashSet<>();
        Matcher m = Pattern.compile("(?m)^\\s+--([a-z-]+) ").matcher(Options.help());
        while (m.find()) {
            flags.add("LORASERVE_" + m.group(1).toUpperCase().replace('-', '_'));
        }
        Map<String, Object> data = at(one("ConfigMap"), "data");
        for (String key : data.keySet()) {
            if (key.startsWith("LORASERVE_")) {
                assertTrue(flags.contains(key), key + " is not a flag: " + flags);
            }
            assertTrue(data.get(key) instanceof String, key + " must be a string (quote it)");
        }
    }

    @Test
    void serviceAndServiceMonitorSelectTheLoraservePods() {
        Map<String, Object> svc = one("Service");
        Object podValue = at(all("Deployment").get(0), "spec", "template", "metadata", "labels", POD_LABEL);
        assertEquals(podValue, at(svc, "spec", "selector", POD_LABEL));
        Set<String> containerPorts = names(at(container(all("Deployment").get(0)), "ports"));
        List<Map<String, Object>> servicePorts = at(svc, "spec", "ports");
        for (Map<String, Object> p : servicePorts) {
            assertTrue(containerPorts.contains((String) at(p, "targetPort")), p + " targets a container port");
        }
        Map<String, Object> monitor = one("ServiceMonitor");
        Object serviceLabel = at(svc, "metadata", "labels", POD_LABEL);
        assertEquals(serviceLabel, at(monitor, "spec", "selector", "matchLabels", POD_LABEL));
        assertTrue(names(at(svc, "spec", "ports")).contains((String) at(monitor, "spec", "endpoints", 0, "port")));
        assertEquals("/metrics", at(monitor, "spec", "endpoints", 0, "path"));
    }

    @Test
    void inferencePoolSelectsThePodsAndTheRouteUsesThePool() {
        Map<String, Object> pool = one("InferencePool");
        assertEquals("inference.networking.k8s.io/v1", at(pool, "apiVersion"));
        Map<String, Object> deployment = all("Deployment").get(0);
        Object podLabels = at(deployment, "spec", "template", "metadata", "labels");
        assertEquals(podLabels, at(pool, "spec", "selector", "matchLabels"));
        List<Map<String, Object>> ports = at(container(deployment), "ports");
        Object httpPort = ports.stream().filter(p -> p.get("name").equals("http")).findFirst().orElseThrow()
                .get("containerPort");
        assertEquals(httpPort, at(pool, "spec", "targetPorts", 0, "number"), "the pool targets the public port");
        assertTrue(at(pool, "spec", "endpointPickerRef", "name") instanceof String);

        Map<String, Object> route = one("HTTPRoute");
        Map<String, Object> backend = at(route, "spec", "rules", 0, "backendRefs", 0);
        assertEquals("InferencePool", backend.get("kind"));
        assertEquals("inference.networking.k8s.io", backend.get("group"));
        Object poolName = at(pool, "metadata", "name");
        assertEquals(poolName, backend.get("name"));
    }

    @Test
    void endpointPickerConfigScoresAdapterAffinityAndNoPrefixAndItsChartDoesNotClashWithThePool() throws Exception {
        List<Map<String, Object>> gateway = Deploy.documents("gateway");
        assertEquals(1, gateway.size());
        Map<String, Object> epc = gateway.get(0);
        assertEquals("EndpointPickerConfig", epc.get("kind"));
        assertEquals("inference.networking.x-k8s.io/v1alpha1", epc.get("apiVersion"));
        List<Map<String, Object>> plugins = at(epc, "plugins");
        Set<String> declared = plugins.stream().map(p -> (String) p.getOrDefault("name", p.get("type")))
                .collect(Collectors.toSet());
        assertTrue(declared.contains("lora-affinity-scorer"), declared.toString());
        assertTrue(declared.stream().noneMatch(t -> t.contains("prefix")), "no prefix scorer yet: " + declared);
        List<Map<String, Object>> refs = at(epc, "schedulingProfiles", 0, "plugins");
        for (Map<String, Object> ref : refs) {
            assertTrue(declared.contains((String) ref.get("pluginRef")), "declared: " + ref);
        }
        assertTrue(refs.stream().anyMatch(r -> "lora-affinity-scorer".equals(r.get("pluginRef"))));
        String text = Files.readString(Deploy.dir().resolve("gateway/endpoint-picker-config.yaml"));
        Matcher release = Pattern.compile("helm install (\\S+) oci://").matcher(text);
        assertTrue(release.find(), "the file says how the chart is installed");
        assertTrue(!release.group(1).equals(at(one("InferencePool"), "metadata", "name")),
                "the chart's own pool (named after its release) and this pool differ");
    }

    private List<Map<String, Object>> all(String kind) {
        return docs.stream().filter(d -> kind.equals(d.get("kind"))).toList();
    }

    private Map<String, Object> one(String kind) {
        List<Map<String, Object>> found = all(kind);
        assertEquals(1, found.size(), "one " + kind);
        return found.get(0);
    }

    private static Map<String, Object> container(Map<String, Object> deployment) {
        return at(deployment, "spec", "template", "spec", "containers", 0);
    }

    private static Set<String> names(List<Map<String, Object>> items) {
        return items.stream().map(i -> (String) i.get("name")).collect(Collectors.toSet());
    }
}
