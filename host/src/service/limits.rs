//! Message-size limits of the gRPC services and of the clients brokers use to proxy.

/// Largest gRPC message accepted or sent (an Append content frame, for instance).
pub const MAX_FRAME_BYTES: usize = 64 << 20;
