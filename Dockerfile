# loraserve image: the demo model and its adapters by default, any model via --model.
#
#   CPU: docker build -t loraserve .
#   GPU: docker build -t loraserve:gpu --build-arg PROFILE=gpu --build-arg BASE=nvidia/cuda:12.9.1-runtime-ubuntu24.04 .
#   run: docker run -p 8000:8000 -p 8001:8001 loraserve
#        docker run -p 8000:8000 -p 8001:8001 -v /srv/models:/models:ro loraserve --model /models/my-llama
#
# The build and run steps are the README's commands. No test here can run a Docker daemon, so
# DockerfileIT replays this file's last stage on the host (its COPY, ENV, WORKDIR, ENTRYPOINT,
# CMD and HEALTHCHECK) after `mvn verify` has run the build stage's command: keep both in step.

# cpu or gpu: the Maven profile (bytedeco's CPU or CUDA build of libtorch)
ARG PROFILE=cpu
# the runtime's OS image; a CUDA runtime image for the gpu profile
ARG BASE=ubuntu:24.04

FROM maven:3.9-eclipse-temurin-25 AS build
ARG PROFILE
WORKDIR /build
COPY pom.xml ./
COPY .mvn .mvn
COPY src src
COPY loadtest loadtest
RUN mvn -B -ntp -P${PROFILE} -DskipTests package

# the full JDK, not the JRE image: the CPU kernels need the jdk.incubator.vector module, which
# the ENTRYPOINT adds and a trimmed runtime might not carry
FROM eclipse-temurin:25-jdk AS jdk

FROM ${BASE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 loraserve
COPY --from=jdk /opt/java/openjdk /opt/java/openjdk
ENV JAVA_HOME=/opt/java/openjdk \
    PATH=/opt/java/openjdk/bin:$PATH \
    JAVA_TOOL_OPTIONS="-XX:MaxRAMPercentage=25" \
    LORASERVE_HOST=0.0.0.0
WORKDIR /app
COPY --from=build /build/target/loraserve.jar target/loraserve.jar
COPY --from=build /build/target/libs target/libs
COPY demo demo
COPY adapters adapters
USER loraserve
EXPOSE 8000 8001
HEALTHCHECK --interval=15s --timeout=3s --start-period=120s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8001/health/ready || exit 1
ENTRYPOINT ["java", "--enable-native-access=ALL-UNNAMED", "--add-modules", "jdk.incubator.vector", "-jar", "target/loraserve.jar"]
CMD []
