'use client';
import { useEffect, useState } from 'react';
import type { FormEvent } from 'react';
import { useCollector, useLock, useMutation, useParticle } from 'particle-sync/react';
import type { MutateOptions } from 'particle-sync/react';
import type { ProjectRow, TaskRow } from '../lib/model';
import { Progress, Viewers } from './ProjectActivity';
import { useWrite } from './useWrite';

/** Runs a mutation; a refusal becomes the message shown beside the form (the change rolls back). */
function useTaskMutation(name: string) {
  const mutate = useMutation(name);
  const [error, setError] = useState<string>();
  const run = (args: object, options: MutateOptions) => {
    setError(undefined);
    mutate(args, options).catch((refusal: Error) => setError(refusal.message));
  };
  return { run, error };
}

/** The change a rename or a tick makes, shown at once while the server checks it. */
const patchTask =
  (id: string, fields: Partial<TaskRow>): MutateOptions['optimistic'] =>
  (local) =>
    local.update('tasks', undefined, (tasks) => {
      const task = tasks.find((t) => t._id === id);
      if (task) Object.assign(task, fields);
    });

/** The projects you work on, each with its tasks, in the order the server's `sort` keeps. */
export function Projects() {
  const projects = useParticle<readonly ProjectRow[]>('projects');
  const tasks = useParticle<readonly TaskRow[]>('tasks');
  if (!projects?.length) return <p className="empty">No projects yet.</p>;
  return (
    <div className="projects">
      {projects.map((project) => (
        <ProjectCard
          key={project._id}
          project={project}
          tasks={tasks?.filter((task) => task.projectId === project._id) ?? []}
          projects={projects}
        />
      ))}
    </div>
  );
}

interface ProjectCardProps {
  project: ProjectRow;
  tasks: readonly TaskRow[];
  projects: readonly ProjectRow[];
}

function ProjectCard({ project, tasks, projects }: ProjectCardProps) {
  const { run, error } = useTaskMutation('addTask');
  const add = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = event.currentTarget;
    const title = String(new FormData(form).get('title') ?? '').trim();
    // The client picks the id: the task shown now is the one the server will confirm.
    const _id = `t-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
    const task = {
      _id,
      projectId: project._id,
      title,
      done: false,
      createdAt: new Date().toISOString(),
    };
    run(
      { _id, projectId: project._id, title },
      {
        optimistic: (local) => local.insert('tasks', undefined, task),
      },
    );
    form.reset();
  };
  return (
    <section className="card" data-project={project._id}>
      <h2>{project.name}</h2>
      <Progress projectId={project._id} />
      <Viewers projectId={project._id} />
      <ul className="tasks">
        {tasks.map((task) => (
          <TaskItem key={task._id} task={task} projects={projects} />
        ))}
      </ul>
      <form className="add" onSubmit={add}>
        <input
          name="title"
          placeholder="New task"
          aria-label={`New task in ${project.name}`}
          required
        />
        <button>Add</button>
      </form>
      {error && <p role="alert">{error}</p>}
    </section>
  );
}

function TaskItem({ task, projects }: { task: TaskRow; projects: readonly ProjectRow[] }) {
  // Move and delete still go through the REST API: writes from outside Particle work too.
  const { write, error: restError } = useWrite();
  const collector = useCollector();
  const rename = useTaskMutation('renameTask');
  const [tickError, setTickError] = useState<string>();
  // While someone renames a task they hold its lease: everyone else sees who, and waits.
  const lease = useLock('tasks', task._id);
  const [leaseError, setLeaseError] = useState<string>();
  const error = restError ?? rename.error ?? tickError ?? leaseError;
  const [renaming, setRenaming] = useState(false);
  const url = `/api/tasks/${encodeURIComponent(task._id)}`;
  const { release } = lease;
  useEffect(() => release, [release]);
  const startRenaming = () => {
    setLeaseError(undefined);
    lease.request().then(
      () => setRenaming(true),
      (refusal: Error & { owner?: unknown }) =>
        setLeaseError(refusal.owner ? `${String(refusal.owner)} is renaming it` : refusal.message),
    );
  };
  const stopRenaming = () => {
    setRenaming(false);
    lease.release();
  };
  const save = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const title = String(new FormData(event.currentTarget).get('title') ?? '').trim();
    rename.run({ id: task._id, title }, { optimistic: patchTask(task._id, { title }) });
    stopRenaming();
  };
  const editedElsewhere = lease.held && !lease.mine;
  return (
    <li data-task={task._id} className={task.done ? 'done' : undefined}>
      <input
        type="checkbox"
        checked={task.done}
        aria-label={`Done: ${task.title}`}
        onChange={(event) => {
          const done = event.target.checked;
          setTickError(undefined);
          // A direct write: the source is writable, so no mutator is needed for a tick.
          collector
            ?.update<TaskRow>('tasks', task._id, (draft) => {
              draft.done = done;
            })
            .catch((refusal: Error) => setTickError(refusal.message));
        }}
      />
      {renaming ? (
        <form className="rename" onSubmit={save}>
          <input name="title" defaultValue={task.title} aria-label="New title" autoFocus required />
          <button>Save</button>
        </form>
      ) : (
        <span className="title" onDoubleClick={startRenaming}>
          {task.title}
        </span>
      )}
      {editedElsewhere && (
        <span className="editing" data-editing>
          ✎ {String(lease.owner ?? 'someone')} is renaming
        </span>
      )}
      <span className="actions">
        <button
          type="button"
          disabled={editedElsewhere}
          onClick={renaming ? stopRenaming : startRenaming}
        >
          {renaming ? 'Cancel' : 'Rename'}
        </button>
        <select
          value={task.projectId}
          aria-label={`Move ${task.title}`}
          onChange={(event) => void write('PATCH', url, { projectId: event.target.value })}
        >
          {projects.map((project) => (
            <option key={project._id} value={project._id}>
              {project.name}
            </option>
          ))}
        </select>
        <button
          type="button"
          onClick={() => void write('DELETE', url)}
          aria-label={`Delete ${task.title}`}
        >
          ✕
        </button>
      </span>
      {error && <p role="alert">{error}</p>}
    </li>
  );
}
