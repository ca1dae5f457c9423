DROP TABLE password_reset_queue;
