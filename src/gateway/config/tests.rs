use super::*;

fn no_env(_: &str) -> Option<String> {
    None
}

fn parse(yaml: &str) -> GatewayConfig {
    GatewayConfig::from_yaml("test.yaml", yaml, None).unwrap()
}

#[test]
fn queue_fsync_takes_a_policy_or_the_old_booleans() {
    let fsync = |v: &str| {
        let yaml = format!("exporter: {{endpoint: 'c:4317', queue: {{fsync: {v}}}}}");
        GatewayConfig::from_yaml("test.yaml", &yaml, None)
            .map(|c| c.exporter.queue.fsync)
            .map_err(|e| e.to_string())
    };
    assert_eq!(fsync("never"), Ok(Fsync::Never));
    assert_eq!(fsync("interval"), Ok(Fsync::Interval));
    assert_eq!(fsync("group"), Ok(Fsync::Group));
    assert_eq!(fsync("true"), Ok(Fsync::Group));
    assert_eq!(fsync("false"), Ok(Fsync::Never));
    let err = fsync("sometimes").unwrap_err();
    assert!(err.contains("expected never, interval or group"), "{err}");
    let d = parse("exporter: {endpoint: 'c:4317'}");
    assert_eq!(d.exporter.queue.fsync, Fsync::Never);
    assert_eq!(
        d.exporter.queue.fsync_interval,
        DEFAULT_QUEUE_FSYNC_INTERVAL
    );
    let err = parse(
        "exporter: {endpoint: 'c:4317', queue: {fsync: interval, fsync_interval: 0s, size: 0}}",
    )
    .resolve(&no_env)
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("exporter.queue.fsync_interval: must be greater than 0")
            && err.contains("exporter.queue.size"),
        "every problem at once: {err}"
    );
}

#[test]
fn empty_file_takes_every_default_but_needs_an_endpoint() {
    let err = parse("").resolve(&no_env).unwrap_err().to_string();
    assert!(err.contains("exporter.endpoint: required"), "{err}");
    let s = parse("exporter: {endpoint: 'collector:4317'}")
        .resolve(&no_env)
        .unwrap();
    assert_eq!(s.grpc, Some("127.0.0.1:4317".parse().unwrap()));
    assert_eq!(s.http, Some("127.0.0.1:4318".parse().unwrap()));
    assert_eq!(s.grpc_max_request_bytes, DEFAULT_MAX_REQUEST_BYTES);
    assert_eq!(s.assembly.root_grace, DEFAULT_ROOT_GRACE);
    assert_eq!(s.assembly.trace_timeout, DEFAULT_TRACE_TIMEOUT);
    assert_eq!(s.assembly.max_traces, DEFAULT_MAX_TRACES);
    assert_eq!(s.exporter.url, "http://collector:4317");
    assert_eq!(s.exporter.protocol, ExporterProtocol::Grpc);
    assert_eq!(s.exporter.timeout, DEFAULT_EXPORTER_TIMEOUT);
    assert_eq!(s.exporter.compression, Compression::Gzip);
    assert_eq!(s.exporter.max_message_bytes, DEFAULT_MAX_MESSAGE_BYTES);
    assert_eq!(s.exporter.queue.size, DEFAULT_QUEUE_SIZE);
    assert_eq!(s.metrics, Some("127.0.0.1:8888".parse().unwrap()));
    assert_eq!(s.shutdown_timeout, DEFAULT_SHUTDOWN_TIMEOUT);
    assert_eq!(s.pricing.prefix, "cost.");
}

#[test]
fn memory_limiter_divides_its_limit_and_is_off_by_default() {
    let off = parse("exporter: {endpoint: 'c:4317'}")
        .resolve(&no_env)
        .unwrap();
    assert!(off.memory_limit.is_none());
    assert_eq!(off.assembly.max_bytes, DEFAULT_MAX_BUFFERED_BYTES);
    assert_eq!(
        off.exporter.queue.max_memory_bytes,
        DEFAULT_QUEUE_MEMORY_BYTES
    );

    let mib = 1024 * 1024;
    let on = parse("exporter: {endpoint: 'c:4317'}\nmemory_limiter: {limit_mib: 500}")
        .resolve(&no_env)
        .unwrap();
    let m = on.memory_limit.expect("on");
    assert_eq!(m.refuse_above_bytes, 500 * mib / 100 * 85);
    assert_eq!(m.resume_below_bytes, 500 * mib / 100 * 75);
    assert_eq!(on.assembly.max_bytes, 500 * mib / 100 * 30);
    assert_eq!(on.exporter.queue.max_memory_bytes, 500 * mib / 100 * 10);
    assert_eq!(
        on.exporter.queue.max_bytes,
        500 * mib / 100 * 10,
        "disk queue fits memory"
    );
    assert_eq!(on.receiver_memory_bytes, 500 * mib / 100 * 20);
    assert_eq!(off.receiver_memory_bytes, DEFAULT_RECEIVER_MEMORY_BYTES);
    assert_eq!(on.grpc_max_request_bytes, 500 * mib / 32);
    assert_eq!(on.http_max_request_bytes, 500 * mib / 32);
    assert_eq!(off.grpc_max_request_bytes, DEFAULT_MAX_REQUEST_BYTES);
    // A smaller explicit budget is kept.
    let small = parse(
            "exporter: {endpoint: 'c:4317'}\nassembly: {max_bytes: 1048576}\nmemory_limiter: {limit_mib: 1000}",
        )
        .resolve(&no_env)
        .unwrap();
    assert_eq!(small.assembly.max_bytes, 1_048_576);

    let err = parse(
            "exporter: {endpoint: 'c:4317', queue: {max_memory_bytes: 5}}\nmemory_limiter: {limit_mib: 10, check_interval: 0s}",
        )
        .resolve(&no_env)
        .unwrap_err()
        .to_string();
    let plain =
        parse("exporter: {endpoint: 'http://c:4317', tls: {cert_file: c.pem, key_file: c.key}}")
            .resolve(&no_env)
            .unwrap_err()
            .to_string();
    assert!(plain.contains("not https://"), "{plain}");
    for p in [
        "memory_limiter.limit_mib: must be at least 64",
        "memory_limiter.check_interval",
        "exporter.queue.max_memory_bytes",
    ] {
        assert!(err.contains(p), "{p} not in {err}");
    }
}

#[test]
fn connection_limits_have_defaults_and_are_validated() {
    let s = parse("exporter: {endpoint: 'c:4317'}")
        .resolve(&no_env)
        .unwrap();
    assert_eq!(
        s.receiver_connections,
        ConnectionLimits {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    );
    assert_eq!(
        s.metrics_connections.max_connections,
        DEFAULT_METRICS_MAX_CONNECTIONS
    );
    let s = parse(
            "exporter: {endpoint: 'c:4317'}\nreceivers: {otlp: {header_read_timeout: 2s, max_connections: 7, max_memory_bytes: 2097152, protocols: {grpc: {max_recv_msg_size_mib: 1}}}}",
        )
        .resolve(&no_env)
        .unwrap();
    assert_eq!(
        s.receiver_connections.header_read_timeout,
        Duration::from_secs(2)
    );
    assert_eq!(s.receiver_connections.max_connections, 7);
    assert_eq!(s.receiver_memory_bytes, 2 << 20);
    let err = parse(
            "exporter: {endpoint: 'c:4317'}\nreceivers: {otlp: {body_read_timeout: 0s, max_connections: 0, max_memory_bytes: 5}}\ntelemetry: {metrics: {idle_timeout: 0s}}",
        )
        .resolve(&no_env)
        .unwrap_err()
        .to_string();
    for p in [
        "receivers.otlp.body_read_timeout",
        "receivers.otlp.max_connections",
        "receivers.otlp.max_memory_bytes",
        "telemetry.metrics.idle_timeout",
    ] {
        assert!(err.contains(p), "{p} not in {err}");
    }
}

#[test]
fn unknown_fields_are_refused_with_their_name() {
    let err = GatewayConfig::from_yaml("g.yaml", "assembly: {root_grase: 2s}", None).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("root_grase") && msg.starts_with("g.yaml"),
        "{msg}"
    );
}

#[test]
fn validation_reports_every_problem_at_once() {
    let yaml = r#"
receivers: {otlp: {protocols: {grpc: {endpoint: "nowhere"}}}}
assembly: {max_traces: 0, trace_timeout: 1s, root_grace: 5s}
exporter:
  endpoint: "ftp://x"
  protocol: "http/json"
  retry: {multiplier: 0.5, randomization_factor: 2}
  queue: {size: 0}
telemetry: {logs: {level: loud}}
"#;
    let err = parse(yaml).resolve(&no_env).unwrap_err();
    let ConfigError::Invalid(problems) = err else {
        panic!("{err}")
    };
    let all = problems.join("\n");
    for needle in [
        "grpc.endpoint: 'nowhere'",
        "assembly.max_traces",
        "root_grace",
        "unsupported scheme 'ftp'",
        "http/json",
        "multiplier",
        "randomization_factor",
        "queue.size",
        "telemetry.logs.level",
    ] {
        assert!(all.contains(needle), "missing {needle:?} in:\n{all}");
    }
    assert!(problems.len() >= 9);
}

#[test]
fn empty_protocol_key_enables_it_with_defaults_and_absent_disables_it() {
    let s = parse("receivers: {otlp: {protocols: {grpc: }}}\nexporter: {endpoint: 'x:1'}")
        .resolve(&no_env)
        .unwrap();
    assert_eq!(s.grpc, Some("127.0.0.1:4317".parse().unwrap()));
    assert_eq!(s.http, None);
}

#[test]
fn durations_parse_like_the_collectors() {
    assert_eq!(parse_duration("150ms").unwrap(), Duration::from_millis(150));
    assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
    assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
    assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
    assert!(parse_duration("10").unwrap_err().contains("missing unit"));
    assert!(parse_duration("3 days").is_err());
}

#[test]
fn env_fills_only_what_the_file_left_unset() {
    let env = |k: &str| match k {
        ENV_ENDPOINT => Some("http://env-host:4318".to_owned()),
        ENV_PROTOCOL => Some("http/protobuf".to_owned()),
        ENV_HEADERS => Some("Authorization=Bearer%20abc, x-team = llm".to_owned()),
        ENV_TIMEOUT => Some("2500".to_owned()),
        _ => None,
    };
    let s = parse("").resolve(&env).unwrap();
    assert_eq!(s.exporter.url, "http://env-host:4318/v1/traces");
    assert_eq!(s.exporter.protocol, ExporterProtocol::HttpProtobuf);
    assert_eq!(
        s.exporter.headers,
        vec![
            ("authorization".into(), "Bearer abc".into()),
            ("x-team".into(), "llm".into())
        ]
    );
    assert_eq!(s.exporter.timeout, Duration::from_millis(2500));
    // The file wins over the environment.
    let s =
        parse("exporter: {endpoint: 'http://file:4317', protocol: grpc, timeout: 1s, headers: {}}")
            .resolve(&env)
            .unwrap();
    assert_eq!(s.exporter.url, "http://file:4317");
    assert_eq!(s.exporter.protocol, ExporterProtocol::Grpc);
    assert_eq!(s.exporter.timeout, Duration::from_secs(1));
    assert!(s.exporter.headers.is_empty());
}

#[test]
fn traces_endpoint_is_used_as_is_and_wins() {
    let env = |k: &str| match k {
        ENV_TRACES_ENDPOINT => Some("http://h:4318/custom/path".to_owned()),
        ENV_ENDPOINT => Some("http://ignored:4318".to_owned()),
        ENV_PROTOCOL => Some("http/protobuf".to_owned()),
        _ => None,
    };
    assert_eq!(
        parse("").resolve(&env).unwrap().exporter.url,
        "http://h:4318/custom/path"
    );
}

#[test]
fn exporting_to_itself_is_refused() {
    let err = parse("exporter: {endpoint: 'http://127.0.0.1:4317'}")
        .resolve(&no_env)
        .unwrap_err();
    assert!(err.to_string().contains("spans would loop"), "{err}");
}

#[test]
fn relative_pricing_files_resolve_against_the_config_directory() {
    let cfg = GatewayConfig::from_yaml(
        "g.yaml",
        "pricing: {overrides: [prices.toml, /abs/p.toml]}\nexporter: {endpoint: 'x:1'}",
        Some(Path::new("/etc/gw")),
    )
    .unwrap();
    let s = cfg.resolve(&no_env).unwrap();
    assert_eq!(
        s.pricing.overrides,
        vec![
            PathBuf::from("/etc/gw/prices.toml"),
            PathBuf::from("/abs/p.toml")
        ]
    );
}

#[test]
fn bad_env_values_are_reported_with_the_variable_name() {
    let env = |k: &str| match k {
        ENV_ENDPOINT => Some("http://h:4317".to_owned()),
        ENV_TIMEOUT => Some("10s".to_owned()),
        ENV_HEADERS => Some("novalue".to_owned()),
        _ => None,
    };
    let err = parse("").resolve(&env).unwrap_err().to_string();
    assert!(
        err.contains(ENV_TIMEOUT) && err.contains(ENV_HEADERS),
        "{err}"
    );
}

#[test]
fn userinfo_is_redacted_from_urls() {
    assert_eq!(
        redact_url("https://user:pw@host:4318/v1/traces"),
        "https://***@host:4318/v1/traces"
    );
    assert_eq!(redact_url("http://host:4317"), "http://host:4317");
}
