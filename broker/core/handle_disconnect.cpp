// DISCONNECT from the client (will kept or dropped, session expiry update) and AUTH
// (enhanced authentication is not supported). PINGREQ is answered in broker.cpp.
#include <algorithm>

#include "broker/core/broker_impl.hpp"

namespace tern::core {

void Broker::Impl::handle_disconnect(ConnectionState& c, const codec::Disconnect& p, Time now) {
  bool publish_will = false;
  if (c.version == ProtocolVersion::v5) {
    if (p.props.session_expiry_interval) {
      if (c.connect_session_expiry == 0 && *p.props.session_expiry_interval != 0) {
        // [MQTT-3.14.2-2] 0 in CONNECT cannot become non-zero at DISCONNECT.
        protocol_error(c, ReasonCode::ProtocolError, "session expiry changed from 0", now);
        return;
      }
      if (Session* s = find_session(c.session))
        s->expiry_interval = std::min(*p.props.session_expiry_interval, opts.max_session_expiry);
    }
    // [MQTT-3.1.2-10] only Normal Disconnection (0x00) deletes the will; 0x04 and any
    // error reason leave it to be published.
    publish_will = p.reason_code != rc(ReasonCode::NormalDisconnection);
  }
  // 3.1.1: DISCONNECT always deletes the will [MQTT-3.1.2-10], [MQTT-3.14.4-3].
  if (!publish_will) c.will.reset();
  // [MQTT-3.14.4-1] the server closes the connection; no DISCONNECT is sent back.
  close(c, static_cast<ReasonCode>(p.reason_code), EventKind::Disconnected, "client DISCONNECT",
        false, publish_will, now);
}

void Broker::Impl::handle_auth(ConnectionState& c, const codec::Auth& p, Time now) {
  (void)p;
  // 4.12: AUTH without an Authentication Method in CONNECT is a protocol error.
  protocol_error(c, ReasonCode::ProtocolError, "AUTH without authentication method", now);
}

}  // namespace tern::core
