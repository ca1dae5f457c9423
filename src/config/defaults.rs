//! The default of every setting: what authd does with no configuration
//! at all (the development first run), and what each key falls back to.
//! `config.example.toml` documents the same values; a test keeps them in step.

use ipnet::IpNet;

use super::*;

impl Default for MetricsConfig {
    fn default() -> MetricsConfig {
        MetricsConfig {
            bind: None,
            allow: vec![
                IpNet::from(std::net::IpAddr::from([127, 0, 0, 1])),
                IpNet::from(std::net::IpAddr::from(std::net::Ipv6Addr::LOCALHOST)),
            ],
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> DatabaseConfig {
        DatabaseConfig {
            url: ConnectionUrl::new("sqlite://authd.db"),
            pool_size: 8,
            min_idle: 1,
            idle_timeout: Duration::secs(300),
            connect_timeout: Duration::secs(5),
            pool_timeout: Duration::secs(1),
            busy_timeout: Duration::secs(5),
            auto_migrate: None,
        }
    }
}

impl Default for RedisConfig {
    fn default() -> RedisConfig {
        RedisConfig {
            url: None,
            ca_file: None,
            tls_insecure: false,
            key_prefix: "authd:".into(),
            timeout: Duration::millis(250),
        }
    }
}

impl Default for HttpConfig {
    fn default() -> HttpConfig {
        HttpConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 8000)),
            max_body_bytes: 16 * 1024,
            max_connections: 1024,
            header_read_timeout: Duration::secs(10),
            idle_timeout: Duration::secs(75),
            request_timeout: Duration::secs(30),
            shutdown_grace: Duration::secs(30),
            allowed_hosts: vec!["localhost".into(), "127.0.0.1".into(), "[::1]".into()],
            cors_allowed_origins: Vec::new(),
            public_url: None,
            trusted_proxies: Vec::new(),
            forwarded_header: ForwardedHeader::XForwardedFor,
            hsts: false,
            refresh_cookie: "authd_refresh".into(),
            cookie_secure: true,
        }
    }
}

impl Default for JwtConfig {
    fn default() -> JwtConfig {
        JwtConfig {
            keys: Vec::new(),
            key_file: PathBuf::from("authd.key"),
            access_ttl: Duration::secs(3600),
            refresh_ttl: Duration::secs(7 * 86_400),
            issuer: "authd".into(),
            audience: None,
            leeway: Duration::secs(0),
            refresh_reuse_grace: Duration::secs(10),
            revocation_cache_ttl: Duration::millis(500),
            jwks_max_age: Duration::secs(300),
            legacy_simplejwt: LegacySimpleJwtConfig::default(),
        }
    }
}

impl Default for LegacySimpleJwtConfig {
    fn default() -> LegacySimpleJwtConfig {
        LegacySimpleJwtConfig {
            enabled: false,
            secret_key: Secret::default(),
            user_id_claim: "user_id".into(),
            issuer: None,
            audience: None,
            leeway: Duration::secs(0),
        }
    }
}

impl Default for PasswordConfig {
    fn default() -> PasswordConfig {
        PasswordConfig {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
            hash_workers: 0,
            hash_queue: 64,
            min_memory_kib: 19_456,
            min_iterations: 2,
            min_parallelism: 1,
            legacy_pbkdf2_min_iterations: 600_000,
        }
    }
}

impl Default for ThrottleConfig {
    fn default() -> ThrottleConfig {
        ThrottleConfig {
            rates: ThrottleRates::default(),
            on_redis_error: ThrottleFallback::Memory,
            memory_windows: crate::throttle::DEFAULT_WINDOWS as u32,
            ipv6_prefix: crate::throttle::DEFAULT_IPV6_PREFIX,
        }
    }
}

impl Default for ThrottleRates {
    fn default() -> ThrottleRates {
        let rate = |count, secs| Rate {
            count,
            window: std::time::Duration::from_secs(secs),
        };
        ThrottleRates {
            login: rate(5, 60),
            password_reset: rate(3, 60),
            registration: rate(10, 3600),
            password_reset_completion: rate(10, 3600),
            login_ip: rate(5, 60),
            password_reset_ip: rate(10, 60),
            password_change: rate(5, 60),
        }
    }
}

impl Default for ResetConfig {
    fn default() -> ResetConfig {
        ResetConfig {
            token_ttl: Duration::secs(600),
            url_template: "http://localhost:8000/reset-password?token={token}".into(),
            store: None,
            on_redis_error: ResetFallback::Database,
            queue: None,
            workers: 4,
            poll_interval: Duration::secs(10),
            delivery_timeout: Duration::secs(24 * 3600),
        }
    }
}

impl Default for MailConfig {
    fn default() -> MailConfig {
        MailConfig {
            backend: MailBackend::File,
            outbox_dir: PathBuf::from("outbox"),
            from: "authd <noreply@localhost>".into(),
            product_name: "authd".into(),
            templates_dir: None,
            smtp: SmtpConfig::default(),
        }
    }
}

impl Default for SmtpConfig {
    fn default() -> SmtpConfig {
        SmtpConfig {
            host: "localhost".into(),
            port: 587,
            tls: SmtpTls::Starttls,
            username: String::new(),
            password: Secret::default(),
            timeout: Duration::secs(10),
        }
    }
}

impl Default for BlacklistConfig {
    fn default() -> BlacklistConfig {
        BlacklistConfig {
            auto_prune_interval: Duration::secs(3600),
        }
    }
}

impl Default for AuditConfig {
    fn default() -> AuditConfig {
        AuditConfig {
            table: true,
            retention: Duration::secs(90 * 24 * 3600),
            queue: 4096,
        }
    }
}

impl Default for LogConfig {
    fn default() -> LogConfig {
        LogConfig {
            format: LogFormat::Pretty,
            level: "info".into(),
            sample_successes: 1.0,
        }
    }
}

impl Default for DocsConfig {
    fn default() -> DocsConfig {
        DocsConfig {
            redoc_script_url: "https://cdn.redoc.ly/redoc/latest/bundles/redoc.standalone.js"
                .into(),
        }
    }
}
