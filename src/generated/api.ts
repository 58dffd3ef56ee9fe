// tmp
export interface paths {
    "/v1/health": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Check the service's health
         * @description Reports whether the service and its database answer. Always `200` while the process serves requests;
         *     `status` is `degraded` when the database is unreachable. Not rate limited; safe for load balancers.
         */
        get: operations["getHealth"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/plans": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * List the plans
         * @description The subscription plans, cheapest first. Public and cacheable for an hour.
         */
        get: operations["listPlans"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/credit-packs": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * List the credit packs
         * @description The credit packs an organization can buy with `createCheckoutSession`. Public and cacheable for an hour.
         */
        get: operations["listCreditPacks"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/models": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * List the models
         * @description The models an employee can use, with their context window and integer prices in micro-dollars per
         *     million tokens. `offline` models never call a provider and are free. Public and cacheable for an hour.
         */
        get: operations["listModels"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
}
export type webhooks = Record<string, never>;
export interface components {
    schemas: {
        /**
         * Format: date-time
         * @description An RFC 3339 timestamp in UTC.
         * @example 2026-11-25T09:30:00.000Z
         */
        Timestamp: string;
        /**
         * Format: uuid
         * @example 3f1c9a52-7d2e-4b8a-9c41-2f6d8e0b7a13
         */
        Id: string;
        /**
         * @description Lowercase letters, digits and single hyphens.
         * @example acme
         */
        Slug: string;
        /**
         * @description An amount of credits; 1 credit = US$0.0001.
         * @example 100000
         */
        Credits: number;
        /**
         * @description US$0.000001 units.
         * @example 150000
         */
        MicroDollars: number;
        Page: {
            /** @description Pass as `cursor` to get the next page; `null` on the last page. */
            nextCursor: string | null;
        };
        /**
         * @description Stable, machine-readable error codes:
         *     `VALIDATION_ERROR` 400 · `UNAUTHENTICATED` 401 (no credentials) · `TOKEN_EXPIRED` 401 ·
         *     `TOKEN_INVALID` 401 (malformed, forged, wrong audience or issuer) · `API_KEY_INVALID` 401 (unknown,
         *     revoked or expired key) · `PAYMENT_REQUIRED` 402 · `FORBIDDEN` 403 · `NOT_FOUND` 404 ·
         *     `METHOD_NOT_ALLOWED` 405 · `CONFLICT` 409 · `IDEMPOTENCY_CONFLICT` 409 · `PAYLOAD_TOO_LARGE` 413 ·
         *     `UNSUPPORTED_MEDIA_TYPE` 415 · `RATE_LIMITED` 429 · `INTERNAL` 500 · `NOT_IMPLEMENTED` 501 ·
         *     `UNAVAILABLE` 503.
         * @enum {string}
         */
        ErrorCode: "VALIDATION_ERROR" | "UNAUTHENTICATED" | "TOKEN_EXPIRED" | "TOKEN_INVALID" | "API_KEY_INVALID" | "PAYMENT_REQUIRED" | "FORBIDDEN" | "NOT_FOUND" | "METHOD_NOT_ALLOWED" | "CONFLICT" | "IDEMPOTENCY_CONFLICT" | "PAYLOAD_TOO_LARGE" | "UNSUPPORTED_MEDIA_TYPE" | "RATE_LIMITED" | "INTERNAL" | "NOT_IMPLEMENTED" | "UNAVAILABLE";
        ErrorDetail: {
            /**
             * @description Where the problem is, as `body.<path>`, `query.<name>`, `path.<name>` or `header.<name>`.
             * @example body.name
             */
            field: string;
            /** @example must NOT have fewer than 1 characters */
            message: string;
        };
        Error: {
            code: components["schemas"]["ErrorCode"];
            /** @description A human-readable explanation; never contains secrets, SQL or stack traces. */
            message: string;
            details?: components["schemas"]["ErrorDetail"][];
            requestId: string;
        };
        ErrorEnvelope: {
            /** @constant */
            success: false;
            error: components["schemas"]["Error"];
        };
        Health: {
            /**
             * @description `degraded` when a dependency the service needs is not reachable.
             * @enum {string}
             */
            status: "ok" | "degraded";
            /**
             * @description The contract version the service implements.
             * @example 1.0.0
             */
            version: string;
            time: components["schemas"]["Timestamp"];
            database: {
                /** @enum {string} */
                status: "ok" | "unreachable" | "not_configured";
                /** @description Round-trip time of `select 1`, when reached. */
                latencyMs?: number | null;
            };
        };
        Plan: {
            /** @enum {string} */
            id: "free" | "starter" | "pro";
            name: string;
            description: string;
            /** @description The monthly price in US cents. */
            priceCents: number;
            /** @constant */
            currency: "usd";
            monthlyCredits: components["schemas"]["Credits"];
            limits: {
                employees: number;
                concurrentTasks: number;
                members: number;
            };
        };
        CreditPack: {
            /** @enum {string} */
            id: "credits-100k" | "credits-1m";
            name: string;
            credits: components["schemas"]["Credits"];
            /** @description The price of one pack in US cents. */
            priceCents: number;
            /** @constant */
            currency: "usd";
        };
        /** @description Integer micro-dollars (US$0.000001) per million tokens. */
        ModelPricing: {
            inputPerMillion: components["schemas"]["MicroDollars"];
            outputPerMillion: components["schemas"]["MicroDollars"];
            cachedInputPerMillion: components["schemas"]["MicroDollars"];
        };
        Model: {
            /**
             * @description The id to use as an employee's `model`.
             * @example gpt-4o-mini
             */
            id: string;
            /**
             * @description `offline` models are deterministic stand-ins that never call a provider.
             * @enum {string}
             */
            provider: "openai" | "anthropic" | "offline";
            name: string;
            contextWindow: number;
            maxOutputTokens: number;
            pricing: components["schemas"]["ModelPricing"];
        };
        /** @enum {string} */
        Role: "owner" | "admin" | "member";
        Profile: {
            id: components["schemas"]["Id"];
            /** Format: email */
            email: string;
            name: string | null;
            createdAt: components["schemas"]["Timestamp"];
        };
        OrganizationSummary: {
            id: components["schemas"]["Id"];
            name: string;
            slug: components["schemas"]["Slug"];
        };
        Membership: {
            organization: components["schemas"]["OrganizationSummary"];
            role: components["schemas"]["Role"];
            joinedAt: components["schemas"]["Timestamp"];
        };
        CurrentUser: {
            profile: components["schemas"]["Profile"];
            memberships: components["schemas"]["Membership"][];
        };
        Organization: {
            id: components["schemas"]["Id"];
            name: string;
            slug: components["schemas"]["Slug"];
            role: components["schemas"]["Role"];
            /** @enum {string} */
            planId: "free" | "starter" | "pro";
            /** @description The model of employees whose `model` is `null` (inherit). */
            defaultModel: string;
            createdAt: components["schemas"]["Timestamp"];
            updatedAt: components["schemas"]["Timestamp"];
            /**
             * Format: date-time
             * @description Set while the organization is deleted; it can be restored for 30 days.
             */
            deletedAt: string | null;
        };
        OrganizationCreate: {
            name: string;
            slug?: components["schemas"]["Slug"];
            defaultModel?: string;
        };
        OrganizationUpdate: {
            name?: string;
            slug?: components["schemas"]["Slug"];
            defaultModel?: string;
        };
        Member: {
            userId: components["schemas"]["Id"];
            /** Format: email */
            email: string;
            name: string | null;
            role: components["schemas"]["Role"];
            joinedAt: components["schemas"]["Timestamp"];
        };
        MemberUpdate: {
            role: components["schemas"]["Role"];
        };
        Invitation: {
            id: components["schemas"]["Id"];
            /** Format: email */
            email: string;
            role: components["schemas"]["Role"];
            /** @enum {string} */
            status: "pending" | "accepted" | "revoked" | "expired";
            invitedBy: components["schemas"]["Id"];
            expiresAt: components["schemas"]["Timestamp"];
            createdAt: components["schemas"]["Timestamp"];
            /** Format: date-time */
            acceptedAt: string | null;
        };
        /** @description An invitation as created. `token` and `acceptUrl` are returned here only, and only when no email was sent. */
        IssuedInvitation: components["schemas"]["Invitation"] & {
            /** @description Whether Staffroom emailed the invitation (a Supabase project is configured). */
            emailSent: boolean;
            /** @description The secret to pass to `acceptInvitation`, when no email was sent. */
            token: string | null;
            /** @description A link carrying the token, when no email was sent. */
            acceptUrl: string | null;
        };
        InvitationCreate: {
            /** Format: email */
            email: string;
            /**
             * @default member
             * @enum {string}
             */
            role: "admin" | "member";
        };
        InvitationAccept: {
            token: string;
        };
        ApiKey: {
            id: components["schemas"]["Id"];
            name: string;
            /**
             * @description The first characters of the secret, to recognise the key.
             * @example sk_live_Ab3dE
             */
            prefix: string;
            createdBy: components["schemas"]["Id"];
            createdAt: components["schemas"]["Timestamp"];
            /** Format: date-time */
            lastUsedAt: string | null;
            /** Format: date-time */
            expiresAt: string | null;
            /** Format: date-time */
            revokedAt: string | null;
        };
        /** @description An API key as created; `secret` is returned this once and never again. */
        IssuedApiKey: components["schemas"]["ApiKey"] & {
            /** @example sk_live_Ab3dEfGh1jKlMn0pQrStUvWxYz0123456789abcd */
            secret: string;
        };
        ApiKeyCreate: {
            name: string;
            /**
             * Format: date-time
             * @description When the key stops working; never, if absent.
             */
            expiresAt?: string;
        };
        /**
         * @description A tool an employee may use, named as in agent definition files.
         * @enum {string}
         */
        Tool: "Read" | "Write" | "Edit" | "Glob" | "Grep" | "Bash" | "WebFetch" | "WebSearch" | "TodoWrite" | "NotebookEdit" | "Task";
        Employee: {
            id: components["schemas"]["Id"];
            organizationId: components["schemas"]["Id"];
            name: string;
            slug: components["schemas"]["Slug"];
            description: string;
            /** @description The system prompt. */
            instructions: string;
            /** @description A model id from `listModels`; `null` inherits the organization's `defaultModel`. */
            model: string | null;
            tools: components["schemas"]["Tool"][];
            maxOutputTokens: number;
            createdAt: components["schemas"]["Timestamp"];
            updatedAt: components["schemas"]["Timestamp"];
            /** Format: date-time */
            deletedAt: string | null;
        };
        EmployeeCreate: {
            name: string;
            slug?: components["schemas"]["Slug"];
            /** @default  */
            description: string;
            /** @description Up to 50,000 characters. */
            instructions: string;
            model?: string | null;
            tools?: components["schemas"]["Tool"][];
            /** @default 4096 */
            maxOutputTokens: number;
        };
        EmployeeUpdate: {
            name?: string;
            slug?: components["schemas"]["Slug"];
            description?: string;
            instructions?: string;
            model?: string | null;
            tools?: components["schemas"]["Tool"][];
            maxOutputTokens?: number;
        };
        /** @enum {string} */
        TaskStatus: "queued" | "running" | "succeeded" | "failed" | "canceled";
        TokenUsage: {
            inputTokens: number;
            outputTokens: number;
            cachedInputTokens: number;
        };
        TaskError: {
            /** @description `provider_error`, `provider_unavailable`, `timeout`, `attempts_exhausted` or `internal`. */
            code: string;
            message: string;
        };
        Task: {
            id: components["schemas"]["Id"];
            organizationId: components["schemas"]["Id"];
            employeeId: components["schemas"]["Id"];
            status: components["schemas"]["TaskStatus"];
            input: string;
            output: string | null;
            error: components["schemas"]["TaskError"] | null;
            /** @description The provider that ran the task; `offline` results come from no model. */
            provider: string | null;
            model: string;
            usage: components["schemas"]["TokenUsage"] | null;
            /** @description The settled cost, once the task has finished. */
            costCredits: number | null;
            /** @description Credits held while the task is queued or running. */
            reservedCredits: number;
            attempts: number;
            maxAttempts: number;
            createdAt: components["schemas"]["Timestamp"];
            /** Format: date-time */
            startedAt: string | null;
            /** Format: date-time */
            finishedAt: string | null;
            /** Format: date-time */
            cancelRequestedAt: string | null;
        };
        TaskCreate: {
            employeeId: components["schemas"]["Id"];
            /** @description The user message, up to 100,000 characters. */
            input: string;
        };
        /** @enum {string} */
        SubscriptionStatus: "none" | "trialing" | "active" | "past_due" | "canceled" | "unpaid" | "incomplete" | "incomplete_expired" | "paused";
        Billing: {
            /** @enum {string} */
            planId: "free" | "starter" | "pro";
            subscription: {
                status: components["schemas"]["SubscriptionStatus"];
                /** Format: date-time */
                currentPeriodEnd: string | null;
                cancelAtPeriodEnd: boolean;
            };
            credits: {
                balance: components["schemas"]["Credits"];
                reserved: components["schemas"]["Credits"];
                available: components["schemas"]["Credits"];
            };
            /** @description Whether checkout and the portal are available on this deployment. */
            stripeConfigured: boolean;
        };
        CheckoutPlan: {
            /** @constant */
            kind: "plan";
            /** @enum {string} */
            plan: "starter" | "pro";
            /** Format: uri */
            successUrl: string;
            /** Format: uri */
            cancelUrl: string;
        };
        CheckoutCreditPack: {
            /** @constant */
            kind: "credit_pack";
            /** @enum {string} */
            pack: "credits-100k" | "credits-1m";
            /** @default 1 */
            quantity: number;
            /** Format: uri */
            successUrl: string;
            /** Format: uri */
            cancelUrl: string;
        };
        /** @description A plan subscription or a credit pack purchase; `successUrl` and `cancelUrl` must be on an allowed origin. */
        CheckoutRequest: components["schemas"]["CheckoutPlan"] | components["schemas"]["CheckoutCreditPack"];
        CheckoutSession: {
            /** @example cs_test_a1b2c3 */
            id: string;
            /** Format: uri */
            url: string;
            expiresAt: components["schemas"]["Timestamp"];
        };
        PortalRequest: {
            /** Format: uri */
            returnUrl: string;
        };
        PortalSession: {
            /** Format: uri */
            url: string;
        };
        /** @enum {string} */
        LedgerEntryKind: "grant" | "purchase" | "reservation" | "usage" | "release" | "refund" | "adjustment";
        LedgerEntry: {
            id: components["schemas"]["Id"];
            kind: components["schemas"]["LedgerEntryKind"];
            /** @description Signed credits; negative amounts draw the balance down. */
            amount: number;
            balanceAfter: components["schemas"]["Credits"];
            /** @description What caused the entry (a Stripe event or invoice id, a task id); unique per kind. */
            reference: string;
            /** Format: uuid */
            taskId: string | null;
            description: string;
            createdAt: components["schemas"]["Timestamp"];
        };
        UsageTotals: {
            tasks: number;
            inputTokens: number;
            outputTokens: number;
            cachedInputTokens: number;
            costCredits: components["schemas"]["Credits"];
        };
        Usage: {
            /** Format: date */
            from: string;
            /** Format: date */
            to: string;
            totals: components["schemas"]["UsageTotals"];
            byDay: ({
                /** Format: date */
                date: string;
            } & components["schemas"]["UsageTotals"])[];
            byEmployee: ({
                employeeId: components["schemas"]["Id"];
                employeeName: string;
            } & components["schemas"]["UsageTotals"])[];
            byModel: ({
                model: string;
            } & components["schemas"]["UsageTotals"])[];
        };
        WebhookReceipt: {
            /** @constant */
            received: true;
            /** @description Whether this event id had been processed before (nothing was changed again). */
            duplicate: boolean;
        };
        AuditEvent: {
            id: components["schemas"]["Id"];
            organizationId: components["schemas"]["Id"];
            actor: {
                /** @enum {string} */
                type: "user" | "api_key" | "system";
                /** Format: uuid */
                id: string | null;
                email?: string | null;
            };
            /**
             * @description `<target>.<verb>`, e.g. `organization.updated`, `member.removed`, `api_key.created`.
             * @example organization.updated
             */
            action: string;
            /** @enum {string} */
            targetType: "organization" | "member" | "invitation" | "api_key" | "employee" | "billing";
            targetId: string | null;
            before: Record<string, never> | null;
            after: Record<string, never> | null;
            requestId: string | null;
            createdAt: components["schemas"]["Timestamp"];
        };
    };
    responses: {
        /** @description The request is malformed or a field is invalid; `details` names each field. */
        BadRequest: {
            headers: {
                "X-Request-Id": components["headers"]["RequestId"];
                [name: string]: unknown;
            };
            content: {
                /**
                 * @example {
                 *       "success": false,
                 *       "error": {
                 *         "code": "VALIDATION_ERROR",
                 *         "message": "The request is invalid.",
                 *         "details": [
                 *           {
                 *             "field": "body.name",
                 *             "message": "must NOT have fewer than 1 characters"
                 *           }
                 *         ],
                 *         "requestId": "req_01JDQ7Z3R4N4W7T1V5K8M2C9PX"
                 *       }
                 *     }
                 */
                "application/json": components["schemas"]["ErrorEnvelope"];
            };
        };
        /** @description No credentials, or credentials that are expired, malformed, forged or revoked. */
        Unauthorized: {
            headers: {
                "X-Request-Id": components["headers"]["RequestId"];
                [name: string]: unknown;
            };
            content: {
                /**
                 * @example {
                 *       "success": false,
                 *       "error": {
                 *         "code": "UNAUTHENTICATED",
                 *         "message": "Send a bearer token in Authorization or an API key in X-Api-Key.",
                 *         "requestId": "req_01JDQ7Z3R4N4W7T1V5K8M2C9PX"
                 *       }
                 *     }
                 */
                "application/json": components["schemas"]["ErrorEnvelope"];
            };
        };
        /** @description The organization's available credits do not cover the work. */
        PaymentRequired: {
            headers: {
                "X-Request-Id": components["headers"]["RequestId"];
                [name: string]: unknown;
            };
            content: {
                /**
                 * @example {
                 *       "success": false,
                 *       "error": {
                 *         "code": "PAYMENT_REQUIRED",
                 *         "message": "This task needs up to 1200 credits; 350 are available.",
                 *         "details": [
                 *           {
                 *             "field": "credits",
                 *             "message": "available 350, needed 1200"
                 *           }
                 *         ],
                 *         "requestId": "req_01JDQ7Z3R4N4W7T1V5K8M2C9PX"
                 *       }
                 *     }
                 */
                "application/json": components["schemas"]["ErrorEnvelope"];
            };
        };
        /** @description The caller is known but its role does not allow this. */
        Forbidden: {
            headers: {
                "X-Request-Id": components["headers"]["RequestId"];
                [name: string]: unknown;
            };
            content: {
                /**
                 * @example {
                 *       "success": false,
                 *       "error": {
                 *         "code": "FORBIDDEN",
                 *         "message": "Only owners and admins can do this.",
                 *         "requestId": "req_01JDQ7Z3R4N4W7T1V5K8M2C9PX"
                 *       }
                 *     }
                 */
                "application/json": components["schemas"]["ErrorEnvelope"];
            };
        };
        /** @description The resource does not exist or belongs to an organization the caller is not a member of. */
        NotFound: {
            headers: {
                "X-Request-Id": components["headers"]["RequestId"];
                [name: string]: unknown;
            };
            content: {
                /**
                 * @example {
                 *       "success": false,
                 *       "error": {
                 *         "code": "NOT_FOUND",
                 *         "message": "Organization not found.",
                 *         "requestId": "req_01JDQ7Z3R4N4W7T1V5K8M2C9PX"
                 *       }
                 *     }
                 */
                "application/json": components["schemas"]["ErrorEnvelope"];
            };
        };
        /** @description The request conflicts with the current state (a taken slug, a finished task, the last owner). */
        Conflict: {
            headers: {
                "X-Request-Id": components["headers"]["RequestId"];
                [name: string]: unknown;
            };
            content: {
                /**
                 * @example {
                 *       "success": false,
                 *       "error": {
                 *         "code": "CONFLICT",
                 *         "message": "The slug \"acme\" is taken.",
                 *         "details": [
                 *           {
                 *             "field": "body.slug",
                 *             "message": "already in use"
                 *           }
                 *         ],
                 *         "requestId": "req_01JDQ7Z3R4N4W7T1V5K8M2C9PX"
                 *       }
                 *     }
                 */
                "application/json": components["schemas"]["ErrorEnvelope"];
            };
        };
        /** @description The body is larger than this operation accepts. */
        PayloadTooLarge: {
            headers: {
                "X-Request-Id": components["headers"]["RequestId"];
                [name: string]: unknown;
            };
            content: {
                /**
                 * @example {
                 *       "success": false,
                 *       "error": {
                 *         "code": "PAYLOAD_TOO_LARGE",
                 *         "message": "The request body is larger than 1048576 bytes.",
                 *         "requestId": "req_01JDQ7Z3R4N4W7T1V5K8M2C9PX"
                 *       }
                 *     }
                 */
                "application/json": components["schemas"]["ErrorEnvelope"];
            };
        };
        /** @description The body's Content-Type is not one this operation accepts. */
        UnsupportedMediaType: {
            headers: {
                "X-Request-Id": components["headers"]["RequestId"];
                [name: string]: unknown;
            };
            content: {
                /**
                 * @example {
                 *       "success": false,
                 *       "error": {
                 *         "code": "UNSUPPORTED_MEDIA_TYPE",
                 *         "message": "Send the body as application/json.",
                 *         "requestId": "req_01JDQ7Z3R4N4W7T1V5K8M2C9PX"
                 *       }
                 *     }
                 */
                "application/json": components["schemas"]["ErrorEnvelope"];
            };
        };
        /** @description Too many requests; wait `Retry-After` seconds. */
        RateLimited: {
            headers: {
                "X-Request-Id": components["headers"]["RequestId"];
                "Retry-After": components["headers"]["RetryAfter"];
                [name: string]: unknown;
            };
            content: {
                /**
                 * @example {
                 *       "success": false,
                 *       "error": {
                 *         "code": "RATE_LIMITED",
                 *         "message": "Too many requests; retry in 30 seconds.",
                 *         "requestId": "req_01JDQ7Z3R4N4W7T1V5K8M2C9PX"
                 *       }
                 *     }
                 */
                "application/json": components["schemas"]["ErrorEnvelope"];
            };
        };
        /** @description An unexpected failure. Nothing about its cause is returned; quote the request id. */
        InternalError: {
            headers: {
                "X-Request-Id": components["headers"]["RequestId"];
                [name: string]: unknown;
            };
            content: {
                /**
                 * @example {
                 *       "success": false,
                 *       "error": {
                 *         "code": "INTERNAL",
                 *         "message": "Something went wrong on our side.",
                 *         "requestId": "req_01JDQ7Z3R4N4W7T1V5K8M2C9PX"
                 *       }
                 *     }
                 */
                "application/json": components["schemas"]["ErrorEnvelope"];
            };
        };
        /** @description Designed and mocked, not yet served by the real service. */
        NotImplemented: {
            headers: {
                "X-Request-Id": components["headers"]["RequestId"];
                [name: string]: unknown;
            };
            content: {
                /**
                 * @example {
                 *       "success": false,
                 *       "error": {
                 *         "code": "NOT_IMPLEMENTED",
                 *         "message": "createTask is not implemented yet.",
                 *         "requestId": "req_01JDQ7Z3R4N4W7T1V5K8M2C9PX"
                 *       }
                 *     }
                 */
                "application/json": components["schemas"]["ErrorEnvelope"];
            };
        };
        /** @description A dependency is not configured or not reachable; the message says which. */
        Unavailable: {
            headers: {
                "X-Request-Id": components["headers"]["RequestId"];
                [name: string]: unknown;
            };
            content: {
                /**
                 * @example {
                 *       "success": false,
                 *       "error": {
                 *         "code": "UNAVAILABLE",
                 *         "message": "Billing is not configured; set STRIPE_SECRET_KEY.",
                 *         "requestId": "req_01JDQ7Z3R4N4W7T1V5K8M2C9PX"
                 *       }
                 *     }
                 */
                "application/json": components["schemas"]["ErrorEnvelope"];
            };
        };
    };
    parameters: {
        /**
         * @description The organization's id.
         * @example 3f1c9a52-7d2e-4b8a-9c41-2f6d8e0b7a13
         */
        OrgId: string;
        /**
         * @description The member's user id.
         * @example 8b2e4d61-0c3f-4a7e-b5d9-1e6f2a3c4b5d
         */
        UserId: string;
        /**
         * @description The invitation's id.
         * @example 5d7e9f1a-2b3c-4d5e-8f6a-7b8c9d0e1f2a
         */
        InvitationId: string;
        /**
         * @description The API key's id.
         * @example 9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d
         */
        KeyId: string;
        /**
         * @description The employee's id.
         * @example 1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f
         */
        EmployeeId: string;
        /**
         * @description The task's id.
         * @example 7e6d5c4b-3a29-4180-9f7e-6d5c4b3a2918
         */
        TaskId: string;
        /**
         * @description How many items to return, 1 to 100.
         * @example 20
         */
        Limit: number;
        /**
         * @description The opaque `page.nextCursor` of the previous page.
         * @example eyJ0IjoiMjAyNi0xMS0yNVQwOTozMDowMC4wMDBaIiwiaSI6IjdlNmQ1YzRiIn0
         */
        Cursor: string;
        /**
         * @description A client-chosen key (up to 255 characters) that makes a retried request safe: the same key with the
         *     same body within 24 hours returns the first response again; with a different body it is a 409
         *     `IDEMPOTENCY_CONFLICT`.
         * @example 0b6c3f0e-3c8a-4a52-9a7e-2f7d0b1c9e44
         */
        IdempotencyKey: string;
    };
    requestBodies: never;
    headers: {
        /**
         * @description The id of this request, echoed from the request's `X-Request-Id` when valid, else generated.
         * @example req_01JDQ7Z3R4N4W7T1V5K8M2C9PX
         */
        RequestId: string;
        /**
         * @description Seconds to wait before retrying.
         * @example 30
         */
        RetryAfter: number;
        /**
         * @description The URL of the created resource.
         * @example /v1/organizations/3f1c9a52-7d2e-4b8a-9c41-2f6d8e0b7a13
         */
        Location: string;
    };
    pathItems: never;
}
export type $defs = Record<string, never>;
export interface operations {
    getHealth: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The service is up; `status` says whether all its dependencies are. */
            200: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    [name: string]: unknown;
                };
                content: {
                    /**
                     * @example {
                     *       "success": true,
                     *       "data": {
                     *         "status": "ok",
                     *         "version": "1.0.0",
                     *         "time": "2026-11-25T09:30:00.000Z",
                     *         "database": {
                     *           "status": "ok",
                     *           "latencyMs": 2
                     *         }
                     *       }
                     *     }
                     */
                    "application/json": {
                        /** @constant */
                        success: true;
                        data: components["schemas"]["Health"];
                    };
                };
            };
            500: components["responses"]["InternalError"];
        };
    };
    listPlans: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Every plan. */
            200: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    /**
                     * @description Public for an hour.
                     * @example public, max-age=3600
                     */
                    "Cache-Control"?: string;
                    [name: string]: unknown;
                };
                content: {
                    /**
                     * @example {
                     *       "success": true,
                     *       "data": [
                     *         {
                     *           "id": "free",
                     *           "name": "Free",
                     *           "description": "Try Staffroom with a small monthly allowance.",
                     *           "priceCents": 0,
                     *           "currency": "usd",
                     *           "monthlyCredits": 10000,
                     *           "limits": {
                     *             "employees": 3,
                     *             "concurrentTasks": 1,
                     *             "members": 3
                     *           }
                     *         },
                     *         {
                     *           "id": "starter",
                     *           "name": "Starter",
                     *           "description": "For small teams putting employees to work every day.",
                     *           "priceCents": 2900,
                     *           "currency": "usd",
                     *           "monthlyCredits": 300000,
                     *           "limits": {
                     *             "employees": 20,
                     *             "concurrentTasks": 5,
                     *             "members": 10
                     *           }
                     *         }
                     *       ],
                     *       "page": {
                     *         "nextCursor": null
                     *       }
                     *     }
                     */
                    "application/json": {
                        /** @constant */
                        success: true;
                        data: components["schemas"]["Plan"][];
                        page: components["schemas"]["Page"];
                    };
                };
            };
            429: components["responses"]["RateLimited"];
            500: components["responses"]["InternalError"];
        };
    };
    listCreditPacks: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Every credit pack. */
            200: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    /**
                     * @description Public for an hour.
                     * @example public, max-age=3600
                     */
                    "Cache-Control"?: string;
                    [name: string]: unknown;
                };
                content: {
                    /**
                     * @example {
                     *       "success": true,
                     *       "data": [
                     *         {
                     *           "id": "credits-100k",
                     *           "name": "100,000 credits",
                     *           "credits": 100000,
                     *           "priceCents": 1000,
                     *           "currency": "usd"
                     *         }
                     *       ],
                     *       "page": {
                     *         "nextCursor": null
                     *       }
                     *     }
                     */
                    "application/json": {
                        /** @constant */
                        success: true;
                        data: components["schemas"]["CreditPack"][];
                        page: components["schemas"]["Page"];
                    };
                };
            };
            429: components["responses"]["RateLimited"];
            500: components["responses"]["InternalError"];
        };
    };
    listModels: {
        parameters: {
            query?: {
                /**
                 * @description Only the models of this provider.
                 * @example openai
                 */
                provider?: "openai" | "anthropic" | "offline";
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The models, grouped by provider. */
            200: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    /**
                     * @description Public for an hour.
                     * @example public, max-age=3600
                     */
                    "Cache-Control"?: string;
                    [name: string]: unknown;
                };
                content: {
                    /**
                     * @example {
                     *       "success": true,
                     *       "data": [
                     *         {
                     *           "id": "gpt-4o-mini",
                     *           "provider": "openai",
                     *           "name": "GPT-4o mini",
                     *           "contextWindow": 128000,
                     *           "maxOutputTokens": 16384,
                     *           "pricing": {
                     *             "inputPerMillion": 150000,
                     *             "outputPerMillion": 600000,
                     *             "cachedInputPerMillion": 75000
                     *           }
                     *         }
                     *       ],
                     *       "page": {
                     *         "nextCursor": null
                     *       }
                     *     }
                     */
                    "application/json": {
                        /** @constant */
                        success: true;
                        data: components["schemas"]["Model"][];
                        page: components["schemas"]["Page"];
                    };
                };
            };
            400: components["responses"]["BadRequest"];
            429: components["responses"]["RateLimited"];
            500: components["responses"]["InternalError"];
        };
    };
}
