DROP TABLE authd_locks;
