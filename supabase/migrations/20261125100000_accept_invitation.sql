-- Accepting an invitation: the invitee is not a member yet, so RLS hides the invitation from them. This
-- SECURITY DEFINER function does the whole acceptance for the calling user, checking everything itself:
-- the token (by hash), that it is pending and unexpired, that it was sent to the caller's email, and that
-- the organization is live. It locks the invitation, so a token is used once even under concurrency.
create function public.accept_invitation(p_token_hash text, p_request_id text)
  returns table (organization_id uuid, role text, joined_at timestamptz)
  language plpgsql security definer set search_path = ''
as $$
declare
  inv public.invitations%rowtype;
  caller uuid := auth.uid();
  caller_email text := lower(auth.jwt() ->> 'email');
begin
  if caller is null then
    raise exception 'no user' using errcode = '42501';
  end if;
  select * into inv from public.invitations i where i.token_hash = p_token_hash for update;
  if not found or inv.revoked_at is not null or inv.expires_at <= now()
     or exists (select 1 from public.organizations o where o.id = inv.organization_id and o.deleted_at is not null) then
    raise exception 'invitation not found' using errcode = 'P0001', hint = 'invitation_not_found';
  end if;
  if inv.email <> caller_email then
    raise exception 'invitation is for another email' using errcode = 'P0001', hint = 'invitation_email_mismatch';
  end if;
  if inv.accepted_at is not null then
    raise exception 'invitation already used' using errcode = 'P0001', hint = 'invitation_used';
  end if;
  if exists (select 1 from public.memberships m where m.organization_id = inv.organization_id and m.user_id = caller) then
    raise exception 'already a member' using errcode = 'P0001', hint = 'already_member';
  end if;
  insert into public.memberships (organization_id, user_id, role) values (inv.organization_id, caller, inv.role);
  update public.invitations set accepted_at = now(), accepted_by = caller where id = inv.id;
  insert into public.audit_events (organization_id, actor_type, actor_id, actor_email, action, target_type, target_id, after, request_id)
  values (inv.organization_id, 'user', caller, caller_email, 'invitation.accepted', 'invitation', inv.id::text,
          jsonb_build_object('role', inv.role, 'email', inv.email), p_request_id);
  return query select m.organization_id, m.role, m.created_at from public.memberships m
    where m.organization_id = inv.organization_id and m.user_id = caller;
end
$$;

revoke execute on function public.accept_invitation(text, text) from public, anon;
grant execute on function public.accept_invitation(text, text) to authenticated;
