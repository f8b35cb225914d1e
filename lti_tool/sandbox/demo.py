"""The demo people, courses and resource links the sandbox offers."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from lti_tool.sandbox.vocab import Role

# The PSS module the single-module link opens; keep it equal to a module slug in
# the PSS content files.
PSS_MODULE_ID = "why-peer-support"


@dataclass(frozen=True)
class DemoPerson:
    """A sandbox user; `key` is what the sandbox's own URLs use."""

    key: str
    sub: str
    login_hint: str
    given_name: str
    family_name: str
    role_label: str
    roles: tuple[Role, ...]

    @property
    def name(self) -> str:
        """The full display name."""
        return f"{self.given_name} {self.family_name}"


@dataclass(frozen=True)
class DemoLink:
    """A resource link placed in a course; `link_id` is the sandbox URL slug."""

    link_id: str
    resource_link_id: str
    title: str
    # Sent as the custom parameter `target`, as Moodle keeps it.
    custom_target: str | None = None
    # Sent only in the target_link_uri query, as Canvas keeps it.
    query_target: str | None = None
    # The URL a tool gave for a deep-linked link; launches go there.
    url: str | None = None

    def target_link_uri(self, redirect_uri: str) -> str:
        """The launch URL of this link, with its query target if it has one."""
        if self.url is not None:
            return self.url
        if self.query_target is None:
            return redirect_uri
        return f"{redirect_uri}?{urlencode({'target': self.query_target})}"

    def custom(self) -> dict[str, str]:
        """The custom parameters of this link."""
        return {} if self.custom_target is None else {"target": self.custom_target}


@dataclass(frozen=True)
class DemoCourse:
    """A course (LTI context) with its resource links."""

    course_id: str
    context_id: str
    label: str
    title: str
    links: tuple[DemoLink, ...]

    def find_link(self, link_id: str) -> DemoLink | None:
        """The link with this slug, if the course has it."""
        return next((link for link in self.links if link.link_id == link_id), None)


# Roles are sorted, and carry an institution role, as Canvas sends them.
PEOPLE: tuple[DemoPerson, ...] = (
    DemoPerson(
        key="learner",
        sub="3f6c2a94-8d1e-4b7a-9c05-6e2f1d8a4b31",
        login_hint="a41c7e09b25d3f86c1e04a7b9d62f3c58e1b0d47",
        given_name="Alex",
        family_name="Rivera",
        role_label="Learner",
        roles=(Role.INSTITUTION_STUDENT, Role.LEARNER),
    ),
    DemoPerson(
        key="coordinator",
        sub="b8e15d72-4c39-4f0a-a6d2-91c7e3f05a68",
        login_hint="5e92b0c7d4a13f68e2b91c05a7d4e36f1b8c20a9",
        given_name="Jordan",
        family_name="Lee",
        role_label="Coordinator",
        roles=(Role.INSTITUTION_INSTRUCTOR, Role.INSTRUCTOR),
    ),
)

COURSES: tuple[DemoCourse, ...] = (
    DemoCourse(
        course_id="pss-cohort",
        context_id="7c1e4b9a2d6f38e05a9c1b7d4e2f60a83b5c9d1e",
        label="PSS-DEMO",
        title="PSS Cohort (demo)",
        links=(
            DemoLink(
                link_id="pss-program",
                resource_link_id="0d6b3e8a-5f21-4c97-8a4e-2b7f9c1d5e03",
                title="Peer Support Specialist program",
                custom_target="pss",
            ),
            DemoLink(
                link_id="pss-module",
                resource_link_id="6a2f9d14-0e7b-4c53-b18e-7d3c5a9f2e60",
                title="PSS module: why peer support",
                custom_target=f"pss/{PSS_MODULE_ID}",
            ),
            DemoLink(
                link_id="not-set-up",
                resource_link_id="c94e1a7b-3d52-4f08-9e6a-1b8d2c7f4a95",
                title="Not set up yet",
            ),
        ),
    ),
    DemoCourse(
        course_id="pcfm-cohort",
        context_id="e3a8d15c7b2f94061d8e5a3c9b7f2d40c6e1a85b",
        label="PCFM-DEMO",
        title="PCFM Cohort (demo)",
        links=(
            DemoLink(
                link_id="pcfm-program",
                resource_link_id="9b5d2c6e-8a14-4f3b-a7e9-0c2d6f8b1e47",
                title="Parent, Caregiver, and Family Member Peer program",
                custom_target="pcfm",
            ),
            DemoLink(
                link_id="pcfm-canvas-style",
                resource_link_id="4e8a1f3c-6b09-4d72-95c1-e7a2b4d8f036",
                title="PCFM program (target in the launch URL only)",
                query_target="pcfm",
            ),
        ),
    ),
)


def find_person(key: str) -> DemoPerson | None:
    """The demo person with this key, if there is one."""
    return next((person for person in PEOPLE if person.key == key), None)


def find_course(course_id: str) -> DemoCourse | None:
    """The demo course with this id, if there is one."""
    return next((course for course in COURSES if course.course_id == course_id), None)
