DROP TABLE legacy_token_blacklist;
