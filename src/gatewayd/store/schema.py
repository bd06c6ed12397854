"""Core tables: messages, segments, history, receipts, inbound, events, counters."""

MIGRATIONS = [
    (
        "core-0001",
        """
CREATE TABLE messages (
  id INTEGER PRIMARY KEY,
  key TEXT UNIQUE,
  sender TEXT NOT NULL,
  recipient TEXT NOT NULL,
  text TEXT NOT NULL,
  priority INTEGER NOT NULL,
  state TEXT NOT NULL,
  encoding TEXT NOT NULL,
  segments INTEGER NOT NULL,
  ref INTEGER NOT NULL,
  created_at REAL NOT NULL,
  updated_at REAL NOT NULL,
  expires_at REAL,
  not_before REAL NOT NULL DEFAULT 0,
  attempts INTEGER NOT NULL DEFAULT 0,
  link TEXT,
  error_code TEXT,
  error_text TEXT,
  possible_duplicate INTEGER NOT NULL DEFAULT 0,
  source TEXT NOT NULL DEFAULT 'api',
  created_by TEXT,
  campaign_id INTEGER,
  contact_id INTEGER,
  conversation_id INTEGER,
  step INTEGER
);
CREATE INDEX ix_msg_queue ON messages(sender, priority DESC, id) WHERE state = 'queued';
CREATE INDEX ix_msg_pending_pair ON messages(sender, recipient, id) WHERE state IN ('queued', 'sending');
CREATE INDEX ix_msg_expiry ON messages(expires_at) WHERE state = 'queued';
CREATE INDEX ix_msg_recipient ON messages(recipient, id);
CREATE INDEX ix_msg_state_id ON messages(state, id);
CREATE INDEX ix_msg_campaign ON messages(campaign_id, state) WHERE campaign_id IS NOT NULL;
CREATE INDEX ix_msg_created ON messages(created_at);

CREATE TABLE segments (
  id INTEGER PRIMARY KEY,
  message_id INTEGER NOT NULL REFERENCES messages(id),
  idx INTEGER NOT NULL,
  text TEXT NOT NULL,
  state TEXT NOT NULL,
  carrier_id TEXT,
  link TEXT,
  submitted_at REAL,
  done_at REAL,
  receipt_stat TEXT,
  error_code TEXT,
  error_text TEXT,
  UNIQUE (message_id, idx)
);
CREATE INDEX ix_seg_carrier ON segments(carrier_id) WHERE carrier_id IS NOT NULL;

CREATE TABLE message_history (
  message_id INTEGER NOT NULL,
  at REAL NOT NULL,
  state TEXT NOT NULL,
  detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX ix_hist_msg ON message_history(message_id);

CREATE TABLE receipts (
  id INTEGER PRIMARY KEY,
  link TEXT NOT NULL,
  carrier_id TEXT NOT NULL,
  alt_ids TEXT NOT NULL DEFAULT '',
  recipient TEXT,
  stat TEXT NOT NULL,
  err TEXT,
  done_at REAL,
  received_at REAL NOT NULL,
  raw TEXT NOT NULL DEFAULT '',
  segment_id INTEGER
);
CREATE INDEX ix_rcpt_unmatched ON receipts(carrier_id) WHERE segment_id IS NULL;
-- Every id form of a receipt that matched nothing yet, so a later submit result finds it by index.
CREATE TABLE unmatched_ids (carrier_id TEXT NOT NULL, receipt_id INTEGER NOT NULL);
CREATE INDEX ix_unmatched_ids ON unmatched_ids(carrier_id);

CREATE TABLE inbound (
  id INTEGER PRIMARY KEY,
  link TEXT NOT NULL,
  sender TEXT NOT NULL,
  recipient TEXT NOT NULL,
  text TEXT NOT NULL,
  received_at REAL NOT NULL,
  dedup_key TEXT UNIQUE,
  campaign_id INTEGER,
  conversation_id INTEGER,
  keyword TEXT
);
CREATE INDEX ix_inbound_pair ON inbound(recipient, sender, id);

CREATE TABLE events (
  cursor INTEGER PRIMARY KEY AUTOINCREMENT,
  at REAL NOT NULL,
  type TEXT NOT NULL,
  data TEXT NOT NULL
);
CREATE INDEX ix_events_at ON events(at);

CREATE TABLE daily_usage (
  number TEXT NOT NULL,
  day TEXT NOT NULL,
  segments INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (number, day)
);

CREATE TABLE overrides (
  kind TEXT NOT NULL,
  name TEXT NOT NULL,
  enabled INTEGER NOT NULL,
  PRIMARY KEY (kind, name)
);

-- O(1) counts by state for status/metrics on millions of rows, kept exact by triggers.
CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL DEFAULT 0);
CREATE TRIGGER trg_msg_ins AFTER INSERT ON messages BEGIN
  INSERT INTO counters(name, value) VALUES ('msg:' || NEW.state, 1)
    ON CONFLICT(name) DO UPDATE SET value = value + 1;
END;
CREATE TRIGGER trg_msg_upd AFTER UPDATE OF state ON messages WHEN OLD.state <> NEW.state BEGIN
  UPDATE counters SET value = value - 1 WHERE name = 'msg:' || OLD.state;
  INSERT INTO counters(name, value) VALUES ('msg:' || NEW.state, 1)
    ON CONFLICT(name) DO UPDATE SET value = value + 1;
END;
CREATE TRIGGER trg_seg_ins AFTER INSERT ON segments BEGIN
  INSERT INTO counters(name, value) VALUES ('seg:' || NEW.state, 1)
    ON CONFLICT(name) DO UPDATE SET value = value + 1;
END;
CREATE TRIGGER trg_seg_upd AFTER UPDATE OF state ON segments WHEN OLD.state <> NEW.state BEGIN
  UPDATE counters SET value = value - 1 WHERE name = 'seg:' || OLD.state;
  INSERT INTO counters(name, value) VALUES ('seg:' || NEW.state, 1)
    ON CONFLICT(name) DO UPDATE SET value = value + 1;
END;
CREATE TRIGGER trg_inb_ins AFTER INSERT ON inbound BEGIN
  INSERT INTO counters(name, value) VALUES ('inbound', 1)
    ON CONFLICT(name) DO UPDATE SET value = value + 1;
END;
CREATE TRIGGER trg_rcpt_unmatched AFTER INSERT ON receipts WHEN NEW.segment_id IS NULL BEGIN
  INSERT INTO counters(name, value) VALUES ('unmatched', 1)
    ON CONFLICT(name) DO UPDATE SET value = value + 1;
END;
CREATE TRIGGER trg_rcpt_matched AFTER UPDATE OF segment_id ON receipts
  WHEN OLD.segment_id IS NULL AND NEW.segment_id IS NOT NULL BEGIN
  UPDATE counters SET value = value - 1 WHERE name = 'unmatched';
END;
""",
    ),
    (
        "core-0002",
        """
CREATE TABLE audit (
  id INTEGER PRIMARY KEY,
  at REAL NOT NULL,
  user TEXT NOT NULL,
  role TEXT NOT NULL,
  op TEXT NOT NULL,
  target TEXT NOT NULL DEFAULT '',
  ok INTEGER NOT NULL,
  error TEXT
);
CREATE INDEX ix_audit_at ON audit(at);
""",
    ),
]
