// Paho MQTT C++ adapter. Every callback converts what Paho reports into an UplinkEvent and
// hands it to the sink; nothing here blocks a Paho thread or touches bridge state.
#include "bridge/uplink.hpp"

#include <fmt/format.h>
#include <mqtt/async_client.h>

#include <cstdint>
#include <stdexcept>
#include <utility>

namespace tern::bridge {

namespace {

constexpr int kNoReason = 255;  // Paho C++'s MQTTPP_V3_CODE: no v5 reason code

std::uint64_t send_id_of(const mqtt::token& tok) {
  return static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(tok.get_user_context()));
}

template <class T>
std::optional<T> prop(const mqtt::properties& p, mqtt::property::code c) {
  if (!p.contains(c)) return std::nullopt;
  try {
    return mqtt::get<T>(p, c);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// The PUBLISH properties worth carrying across [MQTT-3.3.2]: never Topic Alias or
// Subscription Identifiers, which belong to one connection [MQTT-3.3.2-7], [MQTT-3.3.4-6].
codec::Properties from_paho(const mqtt::properties& p) {
  codec::Properties out;
  using C = mqtt::property;
  if (auto v = prop<std::uint8_t>(p, C::PAYLOAD_FORMAT_INDICATOR))
    out.payload_format_indicator = *v;
  if (auto v = prop<std::uint32_t>(p, C::MESSAGE_EXPIRY_INTERVAL)) out.message_expiry_interval = *v;
  if (auto v = prop<std::string>(p, C::CONTENT_TYPE)) out.content_type = std::move(*v);
  if (auto v = prop<std::string>(p, C::RESPONSE_TOPIC)) out.response_topic = std::move(*v);
  if (auto v = prop<std::string>(p, C::CORRELATION_DATA)) out.correlation_data = std::move(*v);
  const std::size_t n = p.count(C::USER_PROPERTY);
  for (std::size_t i = 0; i < n; ++i) {
    try {
      auto [k, v] = mqtt::get<mqtt::string_pair>(p, C::USER_PROPERTY, i);
      out.user_properties.emplace_back(std::move(k), std::move(v));
    } catch (const std::exception&) {
    }
  }
  return out;
}

// A failed connect attempt in words: the remote's refusal (CONNACK) or what Paho saw.
std::string describe_connect_failure(int rc, int reason, bool v5) {
  if (v5) {
    // Paho reports a v5 CONNACK refusal as the reason code, in `reason` or in `rc`.
    const int code = reason != kNoReason && reason >= 0x80 ? reason : (rc >= 0x80 ? rc : 0);
    if (code >= 0x80) {
      const std::string text = mqtt::exception::reason_code_str(code);
      return fmt::format("refused by the remote: {} (0x{:02x})", text.empty() ? "error" : text,
                         code);
    }
  } else if (rc >= 1 && rc <= 5) {
    // 3.1.1 CONNACK return codes (3.2.2.3).
    static const char* const kText[] = {"",
                                        "unacceptable protocol version",
                                        "identifier rejected",
                                        "server unavailable",
                                        "bad user name or password",
                                        "not authorized"};
    return fmt::format("refused by the remote: {} ({})", kText[rc], rc);
  }
  if (rc == MQTTASYNC_FAILURE)
    return "cannot connect (refused, unreachable, timed out, or the TLS handshake failed)";
  const std::string text = mqtt::exception::error_str(rc);
  return fmt::format("{} [{}]", text.empty() ? "error" : text, rc);
}

mqtt::properties to_paho(const OutgoingPublish& m) {
  mqtt::properties out;
  using C = mqtt::property;
  if (m.props) {
    const codec::Properties& p = *m.props;
    if (p.payload_format_indicator)
      out.add({C::PAYLOAD_FORMAT_INDICATOR, *p.payload_format_indicator});
    if (p.content_type) out.add({C::CONTENT_TYPE, *p.content_type});
    if (p.response_topic) out.add({C::RESPONSE_TOPIC, *p.response_topic});
    if (p.correlation_data) out.add({C::CORRELATION_DATA, *p.correlation_data});
    for (const auto& [k, v] : p.user_properties) out.add({C::USER_PROPERTY, k, v});
  }
  // [MQTT-3.3.2-6] the remaining lifetime, not the original one.
  if (m.message_expiry)
    out.add({C::MESSAGE_EXPIRY_INTERVAL, static_cast<std::int32_t>(*m.message_expiry)});
  return out;
}

}  // namespace

std::string paho_uri(const std::string& uri) {
  std::string scheme;
  std::string rest = uri;
  if (auto pos = uri.find("://"); pos != std::string::npos) {
    scheme = uri.substr(0, pos);
    rest = uri.substr(pos + 3);
  }
  bool tls = false;
  if (scheme.empty() || scheme == "mqtt" || scheme == "tcp") {
    scheme = "tcp";
  } else if (scheme == "mqtts" || scheme == "ssl") {
    scheme = "ssl";
    tls = true;
  } else if (scheme == "wss") {
    tls = true;
  }
  // A port is needed by Paho; the host may be a bracketed IPv6 literal.
  const std::size_t slash = rest.find('/');
  const std::string hostport = rest.substr(0, slash);
  const std::size_t close = hostport.rfind(']');
  const std::size_t colon = hostport.rfind(':');
  const bool has_port = colon != std::string::npos && (close == std::string::npos || colon > close);
  if (!has_port && (scheme == "tcp" || scheme == "ssl")) {
    rest.insert(hostport.size(), tls ? ":8883" : ":1883");
  }
  return scheme + "://" + rest;
}

bool is_tls_uri(const std::string& uri) {
  return uri.starts_with("mqtts://") || uri.starts_with("ssl://") || uri.starts_with("wss://");
}

// ---------------------------------------------------------------- State

struct Uplink::State {
  Sink sink;
  bool v5 = true;

  struct ConnectListener : mqtt::iaction_listener {
    State* st = nullptr;
    void on_success(const mqtt::token& tok) override {
      UplinkConnected ev;
      try {
        const mqtt::connect_response r = tok.get_connect_response();
        ev.server_uri = r.get_server_uri();
        ev.session_present = r.is_session_present();
        const mqtt::properties& p = r.get_properties();
        using C = mqtt::property;
        if (auto v = prop<std::uint16_t>(p, C::RECEIVE_MAXIMUM); v && *v > 0)
          ev.receive_maximum = *v;
        if (auto v = prop<std::uint8_t>(p, C::MAXIMUM_QOS)) ev.maximum_qos = *v;
        if (auto v = prop<std::uint8_t>(p, C::RETAIN_AVAILABLE)) ev.retain_available = *v != 0;
        if (auto v = prop<std::uint32_t>(p, C::MAXIMUM_PACKET_SIZE)) ev.maximum_packet_size = *v;
      } catch (const std::exception&) {
        // No response details: keep the defaults.
      }
      st->sink(std::move(ev));
    }
    void on_failure(const mqtt::token& tok) override {
      UplinkConnectFailed ev;
      ev.rc = tok.get_return_code();
      ev.reason = static_cast<int>(tok.get_reason_code());
      ev.message = describe_connect_failure(ev.rc, ev.reason, st->v5);
      st->sink(std::move(ev));
    }
  } connect_listener;

  struct PublishListener : mqtt::iaction_listener {
    State* st = nullptr;
    void on_success(const mqtt::token& tok) override {
      st->sink(UplinkDelivered{send_id_of(tok), true, 0, static_cast<int>(tok.get_reason_code())});
    }
    void on_failure(const mqtt::token& tok) override {
      st->sink(UplinkDelivered{send_id_of(tok), false, tok.get_return_code(),
                               static_cast<int>(tok.get_reason_code())});
    }
  } publish_listener;

  struct SubscribeListener : mqtt::iaction_listener {
    State* st = nullptr;
    static std::string filter_of(const mqtt::token& tok) {
      auto topics = tok.get_topics();
      return topics && topics->size() > 0 ? (*topics)[0] : std::string();
    }
    void on_success(const mqtt::token& tok) override {
      // v5: the SUBACK's reason code (a granted QoS, or >= 0x80 for a refusal).
      st->sink(UplinkSubscribed{true, filter_of(tok), static_cast<int>(tok.get_reason_code()), {}});
    }
    void on_failure(const mqtt::token& tok) override {
      st->sink(UplinkSubscribed{false, filter_of(tok), static_cast<int>(tok.get_reason_code()),
                                mqtt::exception::printable_error(tok.get_return_code())});
    }
  } subscribe_listener;

  // After the listeners: destroyed before them, so no callback can reach a listener that
  // is gone.
  std::unique_ptr<mqtt::async_client> client;
  // After the client: destroyed while it still exists. Paho C tracks its allocations in a
  // heap that the last client's destruction tears down; properties freed after that leak.
  mqtt::connect_options conn_opts;
  mqtt::connect_options fresh_opts;  // the same with Clean Start
};

// ---------------------------------------------------------------- Uplink

Uplink::Uplink(const BridgeOptions& o, Sink sink) : s_(std::make_unique<State>()) {
  State& s = *s_;
  s.sink = std::move(sink);
  s.connect_listener.st = &s;
  s.publish_listener.st = &s;
  s.subscribe_listener.st = &s;
  v5_ = o.protocol == codec::ProtocolVersion::v5;
  s.v5 = v5_;

  if (o.remotes.empty()) throw std::runtime_error("no remote address");
  auto uris = std::make_shared<mqtt::string_collection>();
  bool tls = o.tls.enabled;
  for (const std::string& r : o.remotes) {
    uris->push_back(paho_uri(r));
    tls = tls || is_tls_uri(r);
  }
  const std::string client_id = o.client_id.empty() ? "tern-bridge-" + o.name : o.client_id;

  // The client first: Paho C's heap tracker starts with the first client, and properties
  // allocated before it are never freed (a leak under ASan).
  try {
    s.client = std::make_unique<mqtt::async_client>(
        (*uris)[0], client_id, mqtt::create_options(v5_ ? MQTTVERSION_5 : MQTTVERSION_3_1_1),
        nullptr);
  } catch (const mqtt::exception& e) {
    throw std::runtime_error(std::string("cannot create the MQTT client: ") + e.what());
  }

  mqtt::connect_options_builder b;
  b.mqtt_version(v5_ ? MQTTVERSION_5 : MQTTVERSION_3_1_1)
      .servers(uris)
      .keep_alive_interval(o.keepalive)
      .connect_timeout(std::chrono::seconds(10))
      .automatic_reconnect(false)  // the bridge runs its own backoff
      .max_inflight(std::max<int>(1, o.max_inflight));
  if (!o.username.empty()) b.user_name(o.username);
  if (o.password) b.password(*o.password);
  if (tls) {
    mqtt::ssl_options_builder sb;
    if (!o.tls.ca_file.empty()) sb.trust_store(o.tls.ca_file);
    if (!o.tls.cert_file.empty()) sb.key_store(o.tls.cert_file);
    if (!o.tls.key_file.empty()) sb.private_key(o.tls.key_file);
    if (!o.tls.key_password.empty()) sb.private_keypassword(o.tls.key_password);
    // Verification is on unless turned off explicitly: the chain and the host name.
    sb.enable_server_cert_auth(o.tls.verify).verify(o.tls.verify);
    if (!o.tls.alpn.empty()) sb.alpn_protos({o.tls.alpn});
    State* sp = &s;
    sb.error_handler([sp](const std::string& msg) { sp->sink(UplinkSslError{msg}); });
    b.ssl(sb.finalize());
  }
  s.conn_opts = b.finalize();
  s.fresh_opts = b.finalize();
  for (auto [opts, clean] : {std::pair{&s.conn_opts, o.clean_start}, {&s.fresh_opts, true}}) {
    if (v5_) {
      opts->set_clean_start(clean);
      // A persistent remote session keeps our in-flight messages and subscriptions across
      // outages; 0 ends it at disconnect. Set on the kept object itself: Paho C++ 1.2
      // copies connect_options without re-pointing the C struct at the copy's properties,
      // so properties set through the builder dangle once the builder is gone (a crash in
      // MQTTAsync_connect). connect() copies it, and its properties outlive the call.
      opts->set_properties(
          {{mqtt::property::SESSION_EXPIRY_INTERVAL, static_cast<std::int32_t>(o.session_expiry)}});
    } else {
      opts->set_clean_session(clean);
    }
  }

  State* sp = &s;
  s.client->set_connection_lost_handler([sp](const std::string& cause) {
    sp->sink(UplinkLost{cause.empty() ? "connection lost" : cause, -1});
  });
  // v5: the server's DISCONNECT (e.g. session taken over, 0x8E). The socket close that
  // follows also reports connection lost; the bridge treats the second one as a no-op.
  s.client->set_disconnected_handler([sp](const mqtt::properties&, mqtt::ReasonCode rc) {
    sp->sink(UplinkLost{"server sent DISCONNECT", static_cast<int>(rc)});
  });
  s.client->set_message_callback([sp, v5 = v5_](mqtt::const_message_ptr m) {
    if (!m) return;
    UplinkMessage ev;
    ev.topic = m->get_topic();
    ev.payload = m->get_payload();
    ev.qos = static_cast<std::uint8_t>(m->get_qos());
    ev.retain = m->is_retained();
    if (v5) ev.props = from_paho(m->get_properties());
    sp->sink(std::move(ev));
  });
}

Uplink::~Uplink() {
  if (!s_ || !s_->client) return;
  disconnect(std::chrono::milliseconds(0));
  // State's members go in reverse order: the connect options, then the client, then the
  // listeners (see State).
}

void Uplink::connect(bool fresh_session) {
  State& s = *s_;
  try {
    s.client->connect(fresh_session ? s.fresh_opts : s.conn_opts, nullptr, s.connect_listener);
  } catch (const mqtt::exception& e) {
    // Already connecting/connected, or bad options: report it as a failed attempt so the
    // bridge's backoff applies.
    s.sink(UplinkConnectFailed{e.get_return_code(), kNoReason, e.what()});
  }
}

Uplink::PublishResult Uplink::publish(std::uint64_t send_id, const OutgoingPublish& m, int& rc) {
  State& s = *s_;
  rc = MQTTASYNC_SUCCESS;
  try {
    auto msg = std::make_shared<mqtt::message>(m.topic, m.payload->data(), m.payload->size(), m.qos,
                                               m.retain);
    if (v5_) msg->set_properties(to_paho(m));
    s.client->publish(msg, reinterpret_cast<void*>(static_cast<std::uintptr_t>(send_id)),
                      s.publish_listener);
    return PublishResult::Ok;
  } catch (const mqtt::exception& e) {
    rc = e.get_return_code();
  } catch (const std::exception&) {
    rc = MQTTASYNC_FAILURE;
  }
  switch (rc) {
    case MQTTASYNC_DISCONNECTED:
    case MQTTASYNC_MAX_MESSAGES_INFLIGHT:
    case MQTTASYNC_MAX_BUFFERED_MESSAGES:
    case MQTTASYNC_FAILURE:
      return PublishResult::Busy;
    default:
      return PublishResult::Refused;
  }
}

void Uplink::subscribe(const std::vector<Filter>& filters) {
  State& s = *s_;
  // One SUBSCRIBE per filter: Paho C++ 1.2's many-filter subscribe with v5 options
  // crashes in MQTTAsync_subscribeMany (Debian 12), and per-filter SUBACKs also tell
  // which filter a refusal is for.
  for (const Filter& f : filters) {
    // [MQTT-3.8.3-3] No Local: what the bridge publishes upstream never comes back to it.
    // Retain As Published keeps a retained message retained on this side too; Retain
    // Handling 1 sends retained messages only when the subscription is new.
    const mqtt::subscribe_options so(mqtt::subscribe_options::SUBSCRIBE_NO_LOCAL,
                                     mqtt::subscribe_options::RETAIN_AS_PUBLISHED,
                                     mqtt::subscribe_options::SEND_RETAINED_ON_NEW);
    try {
      if (v5_) {
        s.client->subscribe(f.filter, f.qos, nullptr, s.subscribe_listener, so);
      } else {
        s.client->subscribe(f.filter, f.qos, nullptr, s.subscribe_listener);
      }
    } catch (const mqtt::exception& e) {
      s.sink(UplinkSubscribed{false, f.filter, kNoReason, e.what()});
    }
  }
}

void Uplink::disconnect(std::chrono::milliseconds timeout) {
  State& s = *s_;
  try {
    // Also when not connected: it ends a connect attempt still in progress, which Paho
    // would otherwise leak when the client is destroyed under it.
    auto tok = s.client->disconnect(static_cast<int>(timeout.count()));
    tok->wait_for(timeout + std::chrono::milliseconds(500));
  } catch (const std::exception&) {
    // Neither connected nor connecting: nothing to end.
  }
}

}  // namespace tern::bridge
