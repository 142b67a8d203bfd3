/**
 * The HTTP plumbing every API shares, over Helidon SE and knowing no endpoint: the OpenAI-style
 * error JSON and its one mapper (and the statuses of adapter, overload and shutdown refusals),
 * request bodies and typed field reads, bearer auth, CORS, request ids and the access log,
 * Server-Sent Events, the shutdown gate, connection limits, and probes of a client's connection
 * and of the listener.
 */
package io.loraserve.server.http;
