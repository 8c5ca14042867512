CREATE TABLE "audit_chain_adoption_queue" (
	"seq" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "audit_chain_adoption_queue_seq_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"adoption_id" bigint NOT NULL,
	"legacy_id" text NOT NULL,
	CONSTRAINT "audit_chain_adoption_queue_legacy_unique" UNIQUE("adoption_id","legacy_id")
);
--> statement-breakpoint
CREATE TABLE "audit_chain_adoptions" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "audit_chain_adoptions_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"source_table" text NOT NULL,
	"archive_table" text,
	"plan" jsonb NOT NULL,
	"status" text DEFAULT 'copying' NOT NULL,
	"dropped_triggers" jsonb,
	"historical_rows" bigint,
	"cursor_at" timestamp (6) with time zone,
	"cursor_id" text,
	"queue_cursor" bigint DEFAULT 0 NOT NULL,
	"copied_rows" bigint DEFAULT 0 NOT NULL,
	"started_at" timestamp with time zone DEFAULT now() NOT NULL,
	"switched_at" timestamp with time zone,
	"finished_at" timestamp with time zone,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "audit_chain_adoptions_source_unique" UNIQUE("source_table")
);
--> statement-breakpoint
CREATE TABLE "audit_chain_legacy_links" (
	"chain_seq" bigint PRIMARY KEY NOT NULL,
	"row_id" uuid NOT NULL,
	"org_id" uuid,
	"adoption_id" bigint NOT NULL,
	"legacy_id" text NOT NULL,
	"legacy_prev_checksum" text,
	"legacy_checksum" text,
	CONSTRAINT "audit_chain_legacy_links_legacy_unique" UNIQUE("adoption_id","legacy_id")
);
--> statement-breakpoint
CREATE TABLE "audit_chain_link_claims" (
	"org_id" uuid,
	"prev_checksum" text NOT NULL,
	"chain_seq" bigint NOT NULL,
	CONSTRAINT "audit_chain_link_claims_unique" UNIQUE NULLS NOT DISTINCT("org_id","prev_checksum")
);
--> statement-breakpoint
CREATE TABLE "audit_chain_redactions" (
	"chain_seq" bigint PRIMARY KEY NOT NULL,
	"row_id" uuid NOT NULL,
	"org_id" uuid,
	"fields" text[] NOT NULL,
	"reason" text,
	"redacted_by" text NOT NULL,
	"redacted_at" timestamp with time zone DEFAULT now() NOT NULL,
	"xact_id" bigint NOT NULL,
	"audit_row_id" uuid NOT NULL
);
--> statement-breakpoint
CREATE TABLE "audit_chain_retention_cuts" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "audit_chain_retention_cuts_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"org_id" uuid,
	"cut_seq" bigint NOT NULL,
	"checkpoint_id" bigint NOT NULL,
	"checksum" text NOT NULL,
	"sealed_count" bigint NOT NULL,
	"older_than" timestamp (6) with time zone NOT NULL,
	"deleted_rows" bigint DEFAULT 0 NOT NULL,
	"dropped_partitions" text[],
	"cut_by" text DEFAULT session_user NOT NULL,
	"cut_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE INDEX "audit_chain_link_claims_seq_idx" ON "audit_chain_link_claims" USING btree ("chain_seq");--> statement-breakpoint
CREATE INDEX "audit_chain_retention_cuts_org_seq_idx" ON "audit_chain_retention_cuts" USING btree ("org_id","cut_seq");