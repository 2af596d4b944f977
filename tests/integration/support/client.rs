//! A tiny DNS client speaking real UDP and TCP, and helpers to read its answers.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::op::{Edns, Message, Query};
use hickory_proto::rr::{LowerName, Name, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use super::*;

pub fn query_message(name: &str, query_type: RecordType) -> Message {
    let mut message = Message::query();
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(Name::from_ascii(name).unwrap(), query_type));
    message
}

pub fn with_edns(mut message: Message, payload: u16) -> Message {
    let mut edns = Edns::new();
    edns.set_max_payload(payload);
    message.set_edns(edns);
    message
}

/// Sends raw bytes over UDP and returns the raw reply, or `None` if none came in time.
pub async fn udp_exchange_raw(server: SocketAddr, bytes: &[u8], wait: Duration) -> Option<Vec<u8>> {
    udp_exchange_raw_from("127.0.0.1", server, bytes, wait).await
}

/// The same from a chosen loopback source address (any of 127.0.0.0/8), to act as another
/// device.
pub async fn udp_exchange_raw_from(
    source: &str,
    server: SocketAddr,
    bytes: &[u8],
    wait: Duration,
) -> Option<Vec<u8>> {
    let socket = UdpSocket::bind((source, 0)).await.unwrap();
    socket.send_to(bytes, server).await.unwrap();
    let mut buf = vec![0u8; 65_535];
    let len = tokio::time::timeout(wait, socket.recv(&mut buf))
        .await
        .ok()?
        .unwrap();
    buf.truncate(len);
    Some(buf)
}

pub async fn udp_exchange(server: SocketAddr, message: &Message) -> Message {
    let reply = udp_exchange_raw(server, &message.to_vec().unwrap(), TIMEOUT)
        .await
        .expect("no UDP reply in time");
    Message::from_vec(&reply).unwrap()
}

/// A query sent from `source` (a 127.0.0.0/8 address).
pub async fn udp_query_from(
    source: &str,
    server: SocketAddr,
    name: &str,
    query_type: RecordType,
) -> Message {
    let bytes = query_message(name, query_type).to_vec().unwrap();
    let reply = udp_exchange_raw_from(source, server, &bytes, TIMEOUT)
        .await
        .expect("no UDP reply in time");
    Message::from_vec(&reply).unwrap()
}

pub async fn udp_query(server: SocketAddr, name: &str, query_type: RecordType) -> Message {
    udp_exchange(server, &query_message(name, query_type)).await
}

/// One query over a fresh TCP connection.
pub async fn tcp_query(server: SocketAddr, message: &Message) -> Message {
    let mut stream = TcpStream::connect(server).await.unwrap();
    tcp_exchange(&mut stream, message).await
}

/// One query on an open TCP connection (RFC 1035 §4.2.2 length prefix).
pub async fn tcp_exchange(stream: &mut TcpStream, message: &Message) -> Message {
    let bytes = message.to_vec().unwrap();
    let mut framed = (bytes.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&bytes);
    stream.write_all(&framed).await.unwrap();
    let mut len = [0u8; 2];
    tokio::time::timeout(TIMEOUT, stream.read_exact(&mut len))
        .await
        .expect("no TCP reply in time")
        .unwrap();
    let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut reply).await.unwrap();
    Message::from_vec(&reply).unwrap()
}

/// The answer section as `name ttl type data` lines.
pub fn answers(message: &Message) -> Vec<String> {
    message
        .answers
        .iter()
        .map(|r| format!("{} {} {}", r.name, r.record_type(), r.data))
        .collect()
}

pub fn lower(name: &str) -> LowerName {
    LowerName::from(Name::from_ascii(name).unwrap())
}
