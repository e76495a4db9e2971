// PUBACK, PUBREC, PUBREL, PUBCOMP: the acknowledgement halves of the QoS 1 and QoS 2
// flows, outbound (we sent the PUBLISH) and inbound (PUBREL for a PUBLISH we received).
#include "broker/core/broker_impl.hpp"

namespace tern::core {

using Stage = OutboundFlight::Stage;

void Broker::Impl::handle_puback(ConnectionState& c, const codec::PubAck& p, Time now) {
  Session* s = find_session(c.session);
  if (!s) return;
  const OutboundFlight* f = s->inflight.find(p.packet_id);
  // An unknown or out-of-flow id is ignored: nothing to complete.
  if (!f || f->stage != Stage::AwaitPuback) return;
  if (p.reason_code >= 0x80 && c.version == ProtocolVersion::v5) {
    // 3.4.2.1: the receiver did not accept the message; it is not resent (the flow
    // ends below), so it is a drop.
    ++stats.dropped_rejected_by_client;
    dead_letter(DropReason::Rejected, *s, f->msg);
  }
  // 4.3.2: the QoS 1 flow is complete (whatever the reason code); the slot is
  // free for the next queued message [MQTT-3.3.4-9].
  s->inflight.erase(p.packet_id);
  if (s->dur) batch.delete_inflight(s->client_id, p.packet_id);
  drain(c, *s, now);
}

void Broker::Impl::handle_pubrec(ConnectionState& c, const codec::PubAck& p, Time now) {
  Session* s = find_session(c.session);
  if (!s) return;
  OutboundFlight* f = s->inflight.find(p.packet_id);
  if (!f) {
    if (c.version == ProtocolVersion::v5) {
      // v5 4.3.3: PUBREL 0x92 for an identifier we do not know.
      codec::Pubrel rel;
      rel.packet_id = p.packet_id;
      rel.reason_code = rc(ReasonCode::PacketIdentifierNotFound);
      send(c, std::move(rel));
    }
    return;
  }
  if (f->stage == Stage::AwaitPuback) return;  // a PUBREC for a QoS 1 flow: ignore
  if (p.reason_code >= 0x80) {
    // [MQTT-4.3.3-4] only a PUBREC below 0x80 gets a PUBREL: a failure PUBREC ends the
    // flow and the message is never resent. Dropped, when it was the answer to the
    // PUBLISH (not a stray one after our PUBREL).
    if (f->stage == Stage::AwaitPubrec && f->msg) {
      ++stats.dropped_rejected_by_client;
      dead_letter(DropReason::Rejected, *s, f->msg);
    }
    s->inflight.erase(p.packet_id);
    if (s->dur) batch.delete_inflight(s->client_id, p.packet_id);
    drain(c, *s, now);
    return;
  }
  if (f->stage == Stage::AwaitPubrec) {
    // [MQTT-4.3.3-6] the PUBLISH is never resent now (the receiver owns the message):
    // keep only the id.
    f->stage = Stage::AwaitPubcomp;
    f->msg.reset();
    f->subscription_ids.clear();
    if (durable(*s)) put_flight(*s, *f);  // resent as a PUBREL after a restart
  }
  // A duplicate PUBREC in AwaitPubcomp gets the PUBREL again.
  // Once the receiver has the PUBREL it forgets the id: the await-PUBCOMP record must be
  // durable first, or a crash would resend the PUBLISH as a new message.
  send_held(c, SendAck{c.id, codec::PacketType::Pubrel, 0, p.packet_id, c.version},
            s->dur ? f->token : 0);
}

void Broker::Impl::handle_pubrel(ConnectionState& c, const codec::PubAck& p, Time now) {
  (void)now;
  Session* s = find_session(c.session);
  if (!s) return;
  codec::PubAck comp;
  comp.packet_id = p.packet_id;
  if (s->remove_inbound_qos2(p.packet_id)) {
    // [MQTT-4.3.3-11] PUBCOMP; [MQTT-4.3.3-12] the id is released: a later PUBLISH with
    // it is a new message. The release is stored before the PUBCOMP promises it.
    if (c.inbound_unacked > 0) --c.inbound_unacked;
    if (durable(*s)) persist_session(*s);
  } else if (c.version == ProtocolVersion::v5) {
    comp.reason_code = rc(ReasonCode::PacketIdentifierNotFound);  // v5 4.3.3
  }
  send_ack(c, codec::PacketType::Pubcomp, std::move(comp));
}

void Broker::Impl::handle_pubcomp(ConnectionState& c, const codec::PubAck& p, Time now) {
  Session* s = find_session(c.session);
  if (!s) return;
  const OutboundFlight* f = s->inflight.find(p.packet_id);
  if (!f || f->stage != Stage::AwaitPubcomp) return;  // unknown: ignore
  s->inflight.erase(p.packet_id);  // 4.3.3: QoS 2 flow complete
  if (s->dur) batch.delete_inflight(s->client_id, p.packet_id);
  drain(c, *s, now);
}

}  // namespace tern::core
