"""Inbox tables: conversations, their tags and inbox placement, assistant answers, response times.

A conversation is one contact's phone with one of our numbers. Names are copied from ``contacts``
so that search needs no join: an FTS5 trigram index over (first name, last name, phone) answers
"ohn", "Doe" or "0100" from the index instead of scanning 100,000 rows. Tags live in their own
table so that filtering by tag uses an index too.
"""

MIGRATIONS = [
    (
        "inbox-0001",
        """
CREATE TABLE conversations (
  id INTEGER PRIMARY KEY,
  number TEXT NOT NULL,                         -- our address
  phone TEXT NOT NULL,                          -- the contact, E.164
  contact_id INTEGER,
  first_name TEXT NOT NULL DEFAULT '',
  last_name TEXT NOT NULL DEFAULT '',
  campaign_id INTEGER,                          -- attributed campaign of the latest reply
  office TEXT,
  inbox TEXT NOT NULL DEFAULT '[]',             -- JSON: ["office:NAME" | "agent:USER", ...]
  assignee TEXT,
  operated_by TEXT NOT NULL DEFAULT 'agent',    -- 'agent' | 'assistant'
  needs_attention INTEGER NOT NULL DEFAULT 0,
  attention_reason TEXT,
  unread INTEGER NOT NULL DEFAULT 0,            -- contact messages not yet read
  status TEXT NOT NULL DEFAULT 'open',          -- 'open' | 'closed' (single-use number ended)
  opted_out INTEGER NOT NULL DEFAULT 0,
  intro_sent_at REAL,
  awaiting_since REAL,                          -- first unanswered contact message
  moved_at REAL,                                -- moved to the unsolicited inbox at campaign end
  last_text TEXT NOT NULL DEFAULT '',
  last_direction TEXT,
  last_message_at REAL NOT NULL,
  created_at REAL NOT NULL,
  updated_at REAL NOT NULL,
  UNIQUE (phone, number)
);
CREATE INDEX ix_conv_recent ON conversations(last_message_at DESC, id DESC);
CREATE INDEX ix_conv_campaign ON conversations(campaign_id, last_message_at DESC);
CREATE INDEX ix_conv_office ON conversations(office, last_message_at DESC);
CREATE INDEX ix_conv_assignee ON conversations(assignee) WHERE assignee IS NOT NULL;
CREATE INDEX ix_conv_attention ON conversations(needs_attention, last_message_at DESC) WHERE needs_attention = 1;

CREATE VIRTUAL TABLE conversations_fts USING fts5(
  first_name, last_name, phone, content='conversations', content_rowid='id', tokenize='trigram'
);
CREATE TRIGGER trg_conv_fts_ins AFTER INSERT ON conversations BEGIN
  INSERT INTO conversations_fts(rowid, first_name, last_name, phone)
    VALUES (NEW.id, NEW.first_name, NEW.last_name, NEW.phone);
END;
CREATE TRIGGER trg_conv_fts_upd AFTER UPDATE OF first_name, last_name, phone ON conversations BEGIN
  INSERT INTO conversations_fts(conversations_fts, rowid, first_name, last_name, phone)
    VALUES ('delete', OLD.id, OLD.first_name, OLD.last_name, OLD.phone);
  INSERT INTO conversations_fts(rowid, first_name, last_name, phone)
    VALUES (NEW.id, NEW.first_name, NEW.last_name, NEW.phone);
END;
CREATE TRIGGER trg_conv_fts_del AFTER DELETE ON conversations BEGIN
  INSERT INTO conversations_fts(conversations_fts, rowid, first_name, last_name, phone)
    VALUES ('delete', OLD.id, OLD.first_name, OLD.last_name, OLD.phone);
END;

CREATE TABLE conversation_tags (
  conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
  tag TEXT NOT NULL COLLATE NOCASE,
  created_at REAL NOT NULL,
  created_by TEXT,
  PRIMARY KEY (conversation_id, tag)
);
CREATE INDEX ix_conv_tag ON conversation_tags(tag, conversation_id);

-- One row per answer the assistant interpreted (valid or not): the script's answers, and the
-- "invalid responses" analytics counts.
CREATE TABLE answers (
  id INTEGER PRIMARY KEY,
  conversation_id INTEGER NOT NULL,
  campaign_id INTEGER,
  contact_id INTEGER,
  step INTEGER,
  question TEXT,
  value TEXT,
  raw TEXT NOT NULL,
  valid INTEGER NOT NULL,
  reason TEXT,
  inbound_id INTEGER,
  at REAL NOT NULL
);
CREATE INDEX ix_answers_conv ON answers(conversation_id, id);
CREATE INDEX ix_answers_campaign ON answers(campaign_id, valid);

-- Time from a contact's (first unanswered) message to an agent's reply: the analytics median.
CREATE TABLE response_times (
  id INTEGER PRIMARY KEY,
  conversation_id INTEGER NOT NULL,
  campaign_id INTEGER,
  agent TEXT NOT NULL,
  message_id INTEGER NOT NULL,
  contact_at REAL NOT NULL,
  replied_at REAL NOT NULL,
  seconds REAL NOT NULL
);
CREATE INDEX ix_resp_campaign ON response_times(campaign_id, seconds);
""",
    ),
    (
        "inbox-0002",
        """
-- Keyword auto-replies the assistant sends (whole-message match, case and spaces ignored).
-- number '' applies to every number; a number's own entry wins.
CREATE TABLE auto_replies (
  keyword TEXT NOT NULL,
  number TEXT NOT NULL DEFAULT '',
  reply TEXT NOT NULL,
  created_by TEXT,
  updated_at REAL NOT NULL,
  PRIMARY KEY (keyword, number)
);
""",
    ),
    (
        "inbox-0003",
        """
-- Section counts read this index alone (no table rows), in GROUP BY order (no sort).
CREATE INDEX ix_conv_sections ON conversations(status, needs_attention, operated_by, office, assignee, inbox);
-- Search terms shorter than a trigram: name prefixes, through these.
CREATE INDEX ix_conv_first ON conversations(first_name COLLATE NOCASE);
CREATE INDEX ix_conv_last ON conversations(last_name COLLATE NOCASE);
""",
    ),
]
